"""WeCom callback endpoints: verify, decrypt, parse into an Event, hand to the dispatcher."""
