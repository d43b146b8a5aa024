UNIT_TESTS += pci
pci_SRCS := tests/unit/drivers/test_pci.c drivers/pci_bar.c tests/unit/fakes/support.c
