"""Meetings as a unit holds them: the record, who may join, and the paperless parts around the
SFU (sign-in, votes). The media itself is media/."""
