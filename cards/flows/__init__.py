"""Approval flows: each flow is a definition (its form, its chain of approvers, what approval
does) interpreted by one engine; adding a flow needs no engine change."""
