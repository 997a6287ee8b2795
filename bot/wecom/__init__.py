"""The only code that knows wechatpy and WeCom's HTTP API: callback crypto and the API client."""
