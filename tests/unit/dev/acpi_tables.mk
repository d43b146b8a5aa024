UNIT_TESTS += acpi_tables
# acpi_tables: with the machine (its test reads ferry-min's tables as hv/vm/vm.c builds them).
acpi_tables_SRCS := tests/unit/dev/test_acpi_tables.c $(DEV_MACHINE_SRCS) \
	tests/unit/fakes/fake_vm.c tests/unit/fakes/fake_env.c tests/unit/fakes/support.c

# ACPICA's iasl (acpica-tools) reads ferry-min's tables as well: each disassembles without a
# complaint, both _CRS decode as resource templates (a malformed one would show as a raw
# Buffer), and the DSDT's disassembly compiles back, unoptimized, to the very same AML, so every
# PkgLength and encoding is as ACPICA parses it. Runs with the unit tests.
ACPI_IASL := $(B)/unit/acpi_iasl
unit: $(ACPI_IASL)/ok
$(ACPI_IASL)/ok: $(B)/unit/test_acpi_tables
	@echo "  IASL    $(@D)"
	@command -v iasl >/dev/null || { echo "no iasl: tools/deps.sh installs acpica-tools" >&2; \
		exit 1; }
	@rm -rf $(@D) && mkdir -p $(@D) && $< --dump $(@D)
	@set -e; cd $(@D); for t in *.dat; do \
		if ! iasl -d $$t >$${t%.dat}.log 2>&1 || grep -qiE 'error|warning' $${t%.dat}.log; \
		then cat $${t%.dat}.log >&2; exit 1; fi; done; \
	for s in 'EisaId ("PNP0A08")' 'EisaId ("PNP0A03")' 'EisaId ("PNP0C02")' \
		'Name (_PRT, Package (0x7C)'; do \
		grep -qF "$$s" DSDT.dsl || { echo "DSDT.dsl: no $$s" >&2; exit 1; }; done; \
	test "$$(grep -c 'Name (_CRS, ResourceTemplate ()' DSDT.dsl)" = 2 || \
		{ echo "DSDT.dsl: a _CRS that is no resource template" >&2; exit 1; }; \
	iasl -oa -p again DSDT.dsl >again.log 2>&1 || { cat again.log >&2; exit 1; }; \
	cmp <(tail -c +37 DSDT.dat) <(tail -c +37 again.aml) || \
		{ echo "$(@D): iasl compiles DSDT.dsl to other AML" >&2; exit 1; }
	@touch $@
