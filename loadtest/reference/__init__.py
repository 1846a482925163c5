"""Reference chat servers the load test compares Xietong with."""
