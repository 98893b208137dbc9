# One command to set up and run the main job, one to set up and run the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out

.PHONY: demo test setup lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs the package with test tools; re-run when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	mkdir -p $(OUT)/templates
	$(BIN)/xlflow template declaration -o $(OUT)/templates/批量缴费申报表.xlsx
	$(BIN)/xlflow template adjustment -o $(OUT)/templates/批量缴费调整登记表.xlsx
	$(BIN)/xlflow template identity -o $(OUT)/templates/批量参保身份变更表.xlsx
	$(BIN)/xlflow template rules -o $(OUT)/templates/征缴规则表.xlsx
	$(BIN)/xlflow rules check examples/征缴规则表.xlsx
	rm -f $(OUT)/台账.sqlite $(OUT)/台账.sqlite-wal $(OUT)/台账.sqlite-shm
	$(BIN)/xlflow ledger import roster examples/参保人员信息.csv --ledger $(OUT)/台账.sqlite --out $(OUT) || test $$? -eq 1
	$(BIN)/xlflow ledger import payments examples/缴费明细.xls --ledger $(OUT)/台账.sqlite --out $(OUT)
	$(BIN)/xlflow validate examples/批量缴费申报表.xlsx --out $(OUT) --ledger $(OUT)/台账.sqlite || test $$? -eq 1
	$(BIN)/xlflow validate examples/批量缴费调整登记表.xlsx --out $(OUT) --ledger $(OUT)/台账.sqlite || test $$? -eq 1
	$(BIN)/xlflow ledger import list examples/低保对象名单.xlsx --kind 低保对象 --ledger $(OUT)/台账.sqlite --out $(OUT)
	$(BIN)/xlflow compare --year 2024 --ledger $(OUT)/台账.sqlite --out $(OUT)
	$(BIN)/xlflow validate $(OUT)/预填_批量参保身份变更表_2024.xlsx --out $(OUT)/检查预填 --ledger $(OUT)/台账.sqlite || test $$? -eq 1
	$(BIN)/xlflow compare --year 2024 --ledger $(OUT)/台账.sqlite --out $(OUT)/再次比对
	$(BIN)/xlflow ledger status --ledger $(OUT)/台账.sqlite
	@echo "结果已写入 $(OUT)/"

# SheetJS (the reader most upload pages use) for tests/test_readers.py, when npm is there; else that test skips.
tests/.sheetjs/node_modules/xlsx:
	-command -v npm >/dev/null && mkdir -p tests/.sheetjs && cd tests/.sheetjs && \
	  npm install --silent --no-audit --no-fund xlsx@0.18.5 >/dev/null

# pytest exits 5 when it collects no test: that is a failure here too. Two test processes (TEST_WORKERS=0: one).
TEST_WORKERS ?= 2
test: setup tests/.sheetjs/node_modules/xlsx
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$rc
	$(BIN)/ruff check src tests benchmarks examples

lint: setup
	$(BIN)/ruff check src tests benchmarks examples

docs: setup
	$(BIN)/python -m xlflow.domain.findings > docs/findings.md

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(OUT)
