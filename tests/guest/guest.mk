# Test guests, built with the host gcc: freestanding, linked at 1 MiB,
# ELF64 plus a flat binary of the same program (docs/guest-boot.md).
GUEST_MEMTEST_ELF := build/guest/memtest.elf
GUEST_MEMTEST_BIN := build/guest/memtest.bin

GUEST_CC ?= gcc
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -ffreestanding -nostdlib -fno-pic -fno-pie \
	-mno-red-zone -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fcf-protection=none -fno-tree-loop-distribute-patterns -I. -Itests/guest/memtest
GUEST_MEMTEST_SRCS := tests/guest/memtest/start.S tests/guest/memtest/memtest.c \
	tests/guest/memtest/memtest_core.c
GUEST_MEMTEST_OBJS := $(patsubst tests/guest/memtest/%,build/guest/memtest/%.o,\
	$(GUEST_MEMTEST_SRCS))

build/guest/memtest/%.o: tests/guest/memtest/% tests/guest/memtest/memtest_core.h hv/vm/guest_boot.h \
		hv/cpu/vcpu_state.h
	@mkdir -p $(@D)
	@echo "  GUESTCC $<"
	@$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_MEMTEST_ELF): $(GUEST_MEMTEST_OBJS) tests/guest/memtest/memtest.ld
	@mkdir -p $(@D)
	@echo "  GUESTLD $@"
	@ld -nostdlib -static -no-pie --build-id=none -z noexecstack -z max-page-size=4096 \
		-T tests/guest/memtest/memtest.ld -o $@ $(GUEST_MEMTEST_OBJS)

$(GUEST_MEMTEST_BIN): $(GUEST_MEMTEST_ELF)
	@echo "  OBJCOPY $@"
	@objcopy -O binary $< $@

.PHONY: guests
guests: $(GUEST_MEMTEST_ELF) $(GUEST_MEMTEST_BIN)

# The Multiboot test kernel: a 32-bit ELF (gcc -m32 compiles freestanding code without a
# multilib; ld -m elf_i386 links it), loaded by ferry's Multiboot loader (hv/vm/multiboot.c).
GUEST_MBTEST_ELF := build/guest/mbtest.elf
GUEST32_CFLAGS := -m32 -march=i686 -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding \
	-nostdlib -fno-pic -fno-pie -mgeneral-regs-only -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fcf-protection=none -fno-tree-loop-distribute-patterns
GUEST_MBTEST_OBJS := build/guest/mbtest/start.S.o build/guest/mbtest/mbtest.c.o

build/guest/mbtest/%.o: tests/guest/mbtest/%
	@mkdir -p $(@D)
	@echo "  GUESTCC $<"
	@$(GUEST_CC) $(GUEST32_CFLAGS) -c $< -o $@

$(GUEST_MBTEST_ELF): $(GUEST_MBTEST_OBJS) tests/guest/mbtest/mbtest.ld
	@mkdir -p $(@D)
	@echo "  GUESTLD $@"
	@ld -m elf_i386 -nostdlib -static -no-pie --build-id=none -z noexecstack \
		-z max-page-size=4096 --no-warn-rwx-segments -T tests/guest/mbtest/mbtest.ld -o $@ $(GUEST_MBTEST_OBJS)

guests: $(GUEST_MBTEST_ELF)
