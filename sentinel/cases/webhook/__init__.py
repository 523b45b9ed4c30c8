"""Case changes sent to the roster's contact through a site's webhook (an SMS or messaging gateway).

`rows`: the `webhook_deliveries` table; `queue`: the row written in the transaction of the case change
(`sentinel.cases.announce`); `body`: the JSON sent; `sender`: the thread that posts due rows with backoff; `metrics`: its Prometheus figures.
"""
