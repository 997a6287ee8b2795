# Two commands a new machine needs: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config.example.yaml
HOST   ?= 127.0.0.1
PORT   ?= 8000

# WeCom's JS-SDK, shipped in bot/web/static so pages load nothing from a CDN. `make jssdk` refreshes it
# from the npm registry at this pinned version and records the version and checksum beside it.
JSSDK_VERSION ?= 2.4.4
JSSDK_DIR     := bot/web/static
# Apache ECharts for the console's charts, shipped the same way (`make echarts`): the common build
# (line, bar, pie, tooltip, legend) from npm at this pinned version, with its licence and checksum.
ECHARTS_VERSION ?= 6.1.0

.PHONY: install run test lint clean jssdk echarts

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes; the stamp keeps repeated runs fast.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/groupbot db upgrade --config $(CONFIG)
	$(BIN)/groupbot serve --config $(CONFIG) --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache groupbot.db groupbot.db-wal groupbot.db-shm groupbot.db-writer.lock

jssdk:
	rm -rf .jssdk && mkdir .jssdk
	cd .jssdk && npm pack --silent @wecom/jssdk@$(JSSDK_VERSION) >/dev/null && tar xzf wecom-jssdk-$(JSSDK_VERSION).tgz
	cp .jssdk/package/dist/wecom.global.prod.js $(JSSDK_DIR)/wecom-jssdk.js
	cp .jssdk/package/LICENSE $(JSSDK_DIR)/wecom-jssdk.LICENSE 2>/dev/null || true
	printf '@wecom/jssdk %s dist/wecom.global.prod.js sha256 %s\n' $(JSSDK_VERSION) \
		"$$(sha256sum $(JSSDK_DIR)/wecom-jssdk.js | cut -d' ' -f1)" > $(JSSDK_DIR)/wecom-jssdk.version
	rm -rf .jssdk

echarts:
	rm -rf .echarts && mkdir .echarts
	cd .echarts && npm pack --silent echarts@$(ECHARTS_VERSION) >/dev/null && tar xzf echarts-$(ECHARTS_VERSION).tgz
	cp .echarts/package/dist/echarts.common.min.js $(JSSDK_DIR)/echarts.js
	cp .echarts/package/LICENSE $(JSSDK_DIR)/echarts.LICENSE
	printf 'echarts %s dist/echarts.common.min.js sha256 %s\n' $(ECHARTS_VERSION) \
		"$$(sha256sum $(JSSDK_DIR)/echarts.js | cut -d' ' -f1)" > $(JSSDK_DIR)/echarts.version
	rm -rf .echarts
