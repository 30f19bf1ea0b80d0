"""`squeeze validate`: gold-standard models whose true state is known, diagnosed (issue 10 item 1)."""
