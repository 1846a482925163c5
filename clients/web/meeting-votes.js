// Votes (表决, PROTOCOL §6): a host opens a motion with its options and rule, members vote
// once, everyone sees how many have voted while it is open and the counts and outcome once a
// host closes it. Openings and results are pushed; the count of an open motion is not, so
// while one is open the page asks `meeting:motions` every few seconds.
import { $, el, fill } from "/static/dom.js";
import { formatTime, translations } from "/static/i18n.js";
import { describe, nameNode, rollOf } from "/static/meeting-ui.js";

const POLL_MS = 2000;

const t = translations({
  "zh-CN": {
    "form.title": "发起表决",
    "field.title": "表决事项",
    "field.options": "选项（每行一个）",
    "default.options": "同意\n反对\n弃权",
    "field.rule": "通过规则",
    simple_majority: "过半数通过",
    two_thirds: "三分之二多数通过",
    "field.anonymous": "无记名投票",
    open: "发起",
    "options.count": "请填写 2 至 10 个不重复的选项",
    empty: "暂无表决",
    "status.open": "表决中",
    "status.closed": "已结束",
    anonymous: "无记名",
    "tally.open": "已投票 {cast} / {members} 人",
    "tally.closed": "共投 {cast} 票，应投 {members} 人",
    voted: "你已投票",
    "voted.for": "你已投票：{option}",
    close: "结束表决",
    carried: "通过：{winner}",
    "not.carried": "未通过",
    opened: "新的表决：{title}",
    "opened.at": "{at} 发起",
    ballots: "投票明细",
  },
  en: {
    "form.title": "Open a vote",
    "field.title": "Motion",
    "field.options": "Options (one per line)",
    "default.options": "Yes\nNo\nAbstain",
    "field.rule": "Rule",
    simple_majority: "Simple majority",
    two_thirds: "Two-thirds majority",
    "field.anonymous": "Secret ballot",
    open: "Open",
    "options.count": "Give 2 to 10 different options",
    empty: "No votes yet",
    "status.open": "Open",
    "status.closed": "Closed",
    anonymous: "secret",
    "tally.open": "{cast} of {members} voted",
    "tally.closed": "{cast} votes cast of {members}",
    voted: "You have voted",
    "voted.for": "You voted: {option}",
    close: "Close vote",
    carried: "Carried: {winner}",
    "not.carried": "Not carried",
    opened: "New vote: {title}",
    "opened.at": "opened {at}",
    ballots: "Ballots",
  },
});

export function setupVotes(ctx) {
  const { call: meeting, socket, meetingId, user } = ctx;
  const motions = new Map(); // id -> motion, oldest first
  let poller = null;
  const votedKey = (motionId) => `xietong.vote.${motionId}.${user.id}`;

  function upsert(motion) {
    if (motion?.meeting_id !== meetingId) return false;
    motions.set(motion.id, motion);
    return true;
  }

  async function refresh() {
    try {
      const listed = (await socket.call("meeting:motions", { meeting_id: meetingId })).motions;
      for (const motion of listed) upsert(motion);
    } catch {
      // Not a member (an open meeting's guest), or offline for now: keep what is shown.
    }
    render();
  }

  async function vote(motion, option) {
    try {
      await socket.call("meeting:vote", { motion_id: motion.id, option });
      sessionStorage.setItem(votedKey(motion.id), option);
    } catch (error) {
      // "already voted" from another device: the ballot stands, only which is unknown here.
      if (error.code === "conflict" && motion.status === "open") sessionStorage.setItem(votedKey(motion.id), "");
      ctx.report(describe(error));
    }
    await refresh();
  }

  async function close(motion) {
    try {
      upsert((await socket.call("meeting:motion:close", { motion_id: motion.id })).motion);
    } catch (error) {
      ctx.report(describe(error));
    }
    await refresh();
  }

  async function open(form) {
    const options = [...new Set(form.elements.options.value.split("\n").map((o) => o.trim()).filter(Boolean))];
    if (options.length < 2 || options.length > 10) {
      ctx.report(t("options.count"));
      return;
    }
    try {
      const { motion } = await socket.call("meeting:motion:open", {
        meeting_id: meetingId, title: form.elements.title.value.trim(), options,
        rule: form.elements.rule.value, anonymous: form.elements.anonymous.checked,
      });
      upsert(motion);
      form.elements.title.value = "";
      render();
    } catch (error) {
      ctx.report(describe(error));
    }
  }

  function buildForm() {
    const form = $("motion-form");
    fill(form,
      el("h3", {}, t("form.title")),
      el("label", {}, t("field.title"), el("input", { name: "title", required: true, maxlength: "200" })),
      el("label", {}, t("field.options"), el("textarea", { name: "options", rows: "3" }, t("default.options"))),
      el("label", {}, t("field.rule"), el("select", { name: "rule" },
        el("option", { value: "simple_majority" }, t("simple_majority")),
        el("option", { value: "two_thirds" }, t("two_thirds")))),
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "anonymous" }), t("field.anonymous")),
      el("button", { type: "submit", class: "primary" }, t("open")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      open(form);
    });
  }

  function result(motion) {
    const { counts, cast, members, winner, ballots } = motion.result;
    return [
      el("ul", { class: "counts" }, counts.map(({ option, count }) =>
        el("li", { class: option === winner ? "winner" : undefined, dataset: { option } },
          el("span", { class: "option" }, option),
          el("span", { class: "bar" }, el("span", { style: { width: `${cast ? (100 * count) / cast : 0}%` } })),
          el("span", { class: "count" }, String(count))))),
      el("p", { class: "tally" }, t("tally.closed", { cast, members })),
      el("p", { class: winner ? "outcome carried" : "outcome" }, winner ? t("carried", { winner }) : t("not.carried")),
      ballots?.length > 0 && el("details", {}, el("summary", {}, t("ballots")),
        el("ul", { class: "ballots" }, ballots.map((b) => el("li", {}, nameNode(b.user_id), `：${b.option}`)))),
    ];
  }

  function ballot(motion) {
    const voted = sessionStorage.getItem(votedKey(motion.id));
    if (voted !== null) return el("p", { class: "voted" }, voted ? t("voted.for", { option: voted }) : t("voted"));
    if (!rollOf(meeting.meeting).includes(user.id) || !ctx.live()) return null;
    return el("div", { class: "ballot" }, motion.options.map((option) =>
      el("button", { type: "button", dataset: { option }, onclick: (event) => {
        for (const button of event.target.parentNode.querySelectorAll("button")) button.disabled = true;
        vote(motion, option);
      } }, option)));
  }

  function row(motion) {
    const isOpen = motion.status === "open";
    return el("li", { class: `motion ${motion.status}`, dataset: { motion: motion.id, status: motion.status } },
      el("h3", {}, motion.title),
      el("p", { class: "meta" },
        el("span", { class: `badge status-${motion.status}` }, t(`status.${motion.status}`)), " ",
        t(motion.rule), motion.anonymous ? ` · ${t("anonymous")}` : "",
        ` · ${t("opened.at", { at: formatTime(motion.opened_at) })}`),
      isOpen ? [
        el("p", { class: "tally" }, t("tally.open", { cast: motion.cast, members: rollOf(meeting.meeting).length })),
        ballot(motion),
        ctx.isHost() && el("button", { type: "button", class: "danger", dataset: { action: "close" }, onclick: () => close(motion) }, t("close")),
      ] : motion.result && result(motion));
  }

  function render() {
    $("motion-form").hidden = !(ctx.isHost() && ctx.live());
    const list = [...motions.values()].reverse(); // newest first
    fill($("motions"), list.length ? list.map(row) : el("li", { class: "empty" }, t("empty")));
    const anyOpen = list.some((m) => m.status === "open");
    if (anyOpen && !poller && ctx.live()) poller = setInterval(refresh, POLL_MS);
    if ((!anyOpen || !ctx.live()) && poller) {
      clearInterval(poller);
      poller = null;
    }
  }

  buildForm();
  socket.on("meeting:motion", ({ motion } = {}) => {
    if (!upsert(motion)) return;
    ctx.flag("votes", motion.opened_by === user.id ? undefined : t("opened", { title: motion.title }));
    render();
  });
  socket.on("meeting:motion:result", ({ motion } = {}) => {
    if (!upsert(motion)) return;
    ctx.flag("votes");
    render();
  });
  meeting.addEventListener("updated", render);

  return { render, sync: refresh };
}
