"""Video meetings: the meeting records, their placement on media nodes, and the SFU that
forwards RTP between participants without decoding it."""
