"""wecom-groupbot service shell: Flask app, WeCom adapters in and out, router, outbox, config, CLI."""
