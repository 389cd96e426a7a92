"""Analytics: forecasts of a send's opens, clicks and unsubscribes with calibrated intervals."""
