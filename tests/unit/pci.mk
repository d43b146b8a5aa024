UNIT_TESTS += pci
pci_SRCS := tests/unit/test_pci.c drivers/pci_bar.c tests/unit/support.c
