# ferry: `make` builds build/ferry.efi, build/esp/ and build/ferry.img;
# `make run` boots it; `make test` runs every test. Dependencies come from
# Debian through tools/deps.sh, run automatically when missing.
.DEFAULT_GOAL := all
.SECONDEXPANSION:
SHELL := /bin/bash
B := build
TP := $(B)/third_party
DEPS_STAMP := $(TP)/.deps-v4
NEWLIB := $(B)/newlib
PYTHON := /usr/bin/python3
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CC := gcc
CORE_ARCH_FLAGS := -ffreestanding -mgeneral-regs-only -mno-red-zone -mcmodel=kernel \
	-fno-pic -fno-pie -fno-stack-protector -fno-omit-frame-pointer \
	-fno-asynchronous-unwind-tables -O2 -g
GCC_INC := $(shell $(CC) -print-file-name=include)

include net/lwip.mk
include net/http.mk
include hv/base/mbedtls.mk
include hv/base/lz4.mk

CORE_CFLAGS := -std=gnu11 -Wall -Wextra $(CORE_ARCH_FLAGS) -nostdinc \
	-isystem $(NEWLIB)/include -isystem $(GCC_INC) -I. $(LWIP_INCLUDES) $(MBEDTLS_CFLAGS) \
	-DFERRY_GIT='"$(GIT_REV)"' -MMD -MP
include tests/guest/guest.mk

# One archive per layer (docs/architecture.md; tools/check-layers.py holds the include rules).
# Third-party code joins the layer that uses it: lwIP, mbedTLS's TLS and http-parser with net/,
# SHA-256 and LZ4 with base.
LAYERS := base arch drivers net cpu emul dev vm backend mig mgmt console main
LAYER_base    := $(wildcard hv/base/*.c) $(MBEDTLS_SRCS) $(LZ4_SRCS)
LAYER_backend := $(wildcard arch/x86_64/backend.c arch/x86_64/vmx/*.[cS] arch/x86_64/svm/*.[cS])
LAYER_arch    := $(filter-out $(LAYER_backend),$(wildcard arch/x86_64/*.[cS]))
LAYER_drivers := $(wildcard drivers/*.c)
LAYER_net     := $(wildcard net/*.c) $(LWIP_SRCS) $(MBEDTLS_TLS_SRCS) $(HTTP_PARSER_SRCS)
LAYER_cpu     := $(wildcard hv/cpu/*.c)
LAYER_emul    := $(wildcard hv/emul/*.c)
LAYER_dev     := $(wildcard hv/dev/*.c)
LAYER_vm      := $(wildcard hv/vm/*.c hv/vm/*.S)
LAYER_mig     := $(wildcard hv/mig/*.c)
LAYER_mgmt    := $(wildcard hv/mgmt/*.c)
LAYER_console := $(wildcard hv/console/*.c)
LAYER_main    := hv/main.c
layer_objs = $(patsubst %,$(B)/core/%.o,$(LAYER_$(1)))
CORE_OBJS := $(foreach l,$(LAYERS),$(call layer_objs,$(l)))
LAYER_LIBS := $(patsubst %,$(B)/core/lib%.a,$(filter-out main,$(LAYERS)))

EFI_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -fpic -fshort-wchar -fno-stack-protector \
	-mno-red-zone -mgeneral-regs-only -ffreestanding -DGNU_EFI_USE_MS_ABI \
	-I/usr/include/efi -I/usr/include/efi/x86_64 -I. -MMD -MP
EFI_OBJS := $(patsubst %,$(B)/boot/%.o,$(wildcard boot/*.c) boot/core_blob.S)

.SECONDARY:   # keep objects: the pattern chains would otherwise delete them after each build
.PHONY: all deps run test unit system check-nosse check-layers fuzz clean usb pxe
all: $(B)/ferry.efi $(B)/esp/EFI/BOOT/BOOTX64.EFI $(B)/esp/ferry.cfg $(B)/ferry.img \
	$(B)/ferry-usb.img $(B)/pxe/ferry/BOOTX64.EFI \
	$(GUEST_MEMTEST_BIN) $(GUEST_MBTEST_ELF) $(B)/linux/vmlinuz $(B)/linux/initrd.img

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	@tools/deps.sh && touch $@

# The Linux guest the system tests boot (Debian's cloud kernel, fetched, never committed).
$(B)/linux/vmlinuz: tools/fetch-linux.sh | $(DEPS_STAMP)
	@tools/fetch-linux.sh

# The Linux test guest's initramfs: Debian's busybox-static and tests/guest/initramfs/init.
$(B)/linux/initrd.img: tools/mkinitramfs.py tests/guest/initramfs/init $(B)/linux/vmlinuz \
		| $(DEPS_STAMP)
	@echo "  INITRD  $@"
	@python3 tools/mkinitramfs.py $@ /bin/busybox $(B)/linux/modules

$(NEWLIB)/libc.a: tools/build-newlib.sh | $(DEPS_STAMP)
	@tools/build-newlib.sh "$(CORE_ARCH_FLAGS)"

$(B)/core/hv/base/compress.c.o $(B)/core/$(LZ4_SRCS).o: CORE_CFLAGS += $(LZ4_CFLAGS)
$(B)/core/net/http_req.c.o $(B)/core/$(HTTP_PARSER_SRCS).o: CORE_CFLAGS += $(HTTP_PARSER_CFLAGS)

$(B)/core/%.c.o: %.c | $(NEWLIB)/libc.a
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CORE_CFLAGS) -c $< -o $@

$(B)/core/hv/vm/builtin_images.S.o: hv/vm/builtin_images.S $(GUEST_MEMTEST_ELF)
	@mkdir -p $(@D)
	@$(CC) -c -DMEMTEST_ELF='"$(GUEST_MEMTEST_ELF)"' $< -o $@

$(B)/core/%.S.o: %.S | $(NEWLIB)/libc.a
	@mkdir -p $(@D)
	@echo "  AS      $<"
	@$(CC) $(CORE_CFLAGS) -c $< -o $@

$(B)/core/lib%.a: $$(call layer_objs,$$*)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

# Whole archives: every object of a layer is linked, as it was before the split (nothing is
# reached only through a linker section today, but an archive would silently drop such code).
$(B)/core.elf: $(LAYER_LIBS) $(call layer_objs,main) linker.ld $(NEWLIB)/libc.a
	@echo "  LD      $@"
	@ld -nostdlib -static -z max-page-size=4096 -T linker.ld -o $@ $(call layer_objs,main) \
		--whole-archive $(LAYER_LIBS) --no-whole-archive \
		$(NEWLIB)/libc.a $(shell $(CC) -print-libgcc-file-name)

$(B)/boot/%.c.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(EFI_CFLAGS) -c $< -o $@

$(B)/boot/boot/core_blob.S.o: boot/core_blob.S $(B)/core.elf
	@mkdir -p $(@D)
	@$(CC) -c -DCORE_ELF='"$(B)/core.elf"' $< -o $@

$(B)/loader.so: $(EFI_OBJS)
	@echo "  LD      $@"
	@ld -nostdlib -znocombreloc -T /usr/lib/elf_x86_64_efi.lds -shared -Bsymbolic \
		-L/usr/lib /usr/lib/crt0-efi-x86_64.o $(EFI_OBJS) -o $@ -lefi -lgnuefi

$(B)/ferry.efi: $(B)/loader.so
	@echo "  EFI     $@"
	@objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela \
		-j .rel.* -j .rela.* -j .reloc --target efi-app-x86_64 --subsystem=10 $< $@

$(B)/esp/EFI/BOOT/BOOTX64.EFI: $(B)/ferry.efi
	@mkdir -p $(@D)
	@cp $< $@

$(B)/esp/ferry.cfg: boot/ferry.cfg
	@mkdir -p $(@D)
	@cp $< $@

$(B)/ferry.img: $(B)/esp/EFI/BOOT/BOOTX64.EFI $(B)/esp/ferry.cfg
	@echo "  IMG     $@"
	@rm -f $@.tmp && PATH="$$PATH:/sbin:/usr/sbin" mkfs.fat -C -n FERRY $@.tmp 65536 >/dev/null
	@mcopy -s -i $@.tmp $(B)/esp/* ::/
	@mv $@.tmp $@

# What operators boot from: a USB stick image (GPT, an EFI system partition with ferry,
# ferry.cfg and images/) and a TFTP tree with example DHCP configurations. IMAGES=DIR: the
# guest images to put on them.
usb: $(B)/ferry-usb.img
pxe: $(B)/pxe/ferry/BOOTX64.EFI

$(B)/ferry-usb.img: $(B)/ferry.efi boot/ferry.cfg tools/mkusb.py $(if $(IMAGES),$(wildcard $(IMAGES)/*))
	@echo "  USB     $@"
	@$(PYTHON) tools/mkusb.py $@ $(B)/ferry.efi boot/ferry.cfg $(if $(IMAGES),--images $(IMAGES))

$(B)/pxe/ferry/BOOTX64.EFI: $(B)/ferry.efi boot/ferry.cfg tools/mkpxe.py $(if $(IMAGES),$(wildcard $(IMAGES)/*))
	@echo "  PXE     $(B)/pxe"
	@$(PYTHON) tools/mkpxe.py $(B)/pxe $(B)/ferry.efi boot/ferry.cfg $(if $(IMAGES),--images $(IMAGES))

# ---- tests ---------------------------------------------------------------
UNIT_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer -I. -I$(LZ4_DIR) -Itests/unit/fakes
# Every device model with the framework and the machine: for tests that build today's machine.
DEV_MACHINE_SRCS := $(wildcard hv/dev/*.c)
include $(sort $(wildcard tests/unit/*/*.mk))
UNIT_BINS := $(UNIT_TESTS:%=$(B)/unit/test_%)

$(B)/unit/test_%: $$($$*_SRCS) $$(wildcard tests/unit/*/*.h tests/guest/*/*.h hv/*/*.h hv/*.h) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  UNIT    $@"
	@$(CC) $(UNIT_CFLAGS) -o $@ $($*_SRCS) $($*_CFLAGS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# The scan must pass on the core and must catch SSE in a probe built like the core plus one float function.
check-nosse: $(B)/core.elf $(filter $(B)/core/hv/%,$(CORE_OBJS))
	@tools/check-nosse.sh $<
	@printf 'double probe(double *a) { return a[0] * a[1]; }\n' > $(B)/nosse-probe.c
	@$(CC) -O2 -c $(B)/nosse-probe.c -o $(B)/nosse-probe.o
	@ld -r -o $(B)/nosse-probe.elf $(B)/nosse-probe.o $(filter $(B)/core/hv/%,$(CORE_OBJS))
	@if tools/check-nosse.sh $(B)/nosse-probe.elf >/dev/null 2>&1; then \
		echo "check-nosse: the scan missed SSE in a probe" >&2; exit 1; fi

# The include rules hold on the tree, and the checker catches a back edge fed to it.
check-layers:
	@tools/check-layers.py
	@$(PYTHON) -m pytest -q tests/tools

# libFuzzer over the NIC -> lwIP glue (tests/fuzz/fuzz_netif.c); FUZZ_SECONDS per run.
FUZZ_SECONDS ?= 6
$(B)/fuzz_netif: tests/fuzz/fuzz_netif.c tests/unit/fakes/support.c tests/unit/fakes/fake_env.c \
		$(NET_SRCS) $(LWIP_SRCS) | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes \
		$(LWIP_INCLUDES) $^ -o $@

$(B)/fuzz_mig_stream: tests/fuzz/fuzz_mig_stream.c hv/mig/mig_stream.c $(COMPRESS_SRCS) \
		hv/base/crc32c.c | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) $^ -o $@

CPU_POLICY_FUZZ_SRCS := hv/cpu/cpu_policy_codec.c hv/cpu/cpu_policy.c hv/cpu/cpu_host_rules.c \
	hv/cpu/cpu_features.c hv/cpu/cpu_baseline.c hv/base/crc32c.c tests/unit/fakes/fake_cpuid.c \
	tests/unit/fakes/support.c
$(B)/fuzz_cpu_policy: tests/fuzz/fuzz_cpu_policy.c $(CPU_POLICY_FUZZ_SRCS) | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes $^ -o $@

$(B)/fuzz_linux_boot: tests/fuzz/fuzz_linux_boot.c hv/vm/linux_boot.c hv/vm/guest_boot.c | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. $^ -o $@

$(B)/fuzz_multiboot: tests/fuzz/fuzz_multiboot.c hv/vm/multiboot.c tests/unit/vm/mb_image.h \
		| $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
		tests/fuzz/fuzz_multiboot.c hv/vm/multiboot.c -o $@

$(B)/fuzz_devices: tests/fuzz/fuzz_devices.c $(DEV_MACHINE_SRCS) tests/unit/fakes/fake_vm.c \
		tests/unit/fakes/fake_env.c tests/unit/fakes/support.c | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes $^ -o $@

$(B)/fuzz_virtq: tests/fuzz/fuzz_virtq.c hv/dev/virtq.c hv/dev/virtq.h | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
		tests/fuzz/fuzz_virtq.c hv/dev/virtq.c -o $@

$(B)/fuzz_nbd: tests/fuzz/fuzz_nbd.c net/nbd_proto.c net/nbd_proto.h | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
		tests/fuzz/fuzz_nbd.c net/nbd_proto.c -o $@

# The management API's request reader over http-parser (tests/fuzz/fuzz_http_req.c).
$(B)/fuzz_http_req: tests/fuzz/fuzz_http_req.c $(HTTP_REQ_SRCS) net/http_req.h | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. $(HTTP_PARSER_CFLAGS) \
		tests/fuzz/fuzz_http_req.c $(HTTP_REQ_SRCS) -o $@

$(B)/fuzz_fpu_area: tests/fuzz/fuzz_fpu_area.c arch/x86_64/fpu_check.c arch/x86_64/fpu.h \
		| $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
		tests/fuzz/fuzz_fpu_area.c arch/x86_64/fpu_check.c -o $@

$(B)/fuzz_config: tests/fuzz/fuzz_config.c hv/base/config.c hv/base/cmdline.c \
		tests/unit/fakes/support.c | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes $^ -o $@

$(B)/fuzz_acpi: tests/fuzz/fuzz_acpi.c drivers/acpi.c tests/unit/fakes/support.c | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes $^ -o $@

MIG_DST_FUZZ_SRCS := hv/mig/mig_dst.c hv/mig/mig_stream.c $(COMPRESS_SRCS) hv/mig/mig_auth.c hv/base/crc32c.c \
	hv/base/config.c hv/base/cmdline.c hv/vm/msr.c arch/x86_64/fpu_check.c \
	hv/cpu/cpu_policy_codec.c hv/cpu/cpu_baseline.c tests/unit/mig/fake_mig_dst.c \
	$(CPU_POLICY_SRCS) tests/unit/fakes/fake_env.c $(MBEDTLS_SRCS)
$(B)/fuzz_mig_dst: tests/fuzz/fuzz_mig_dst.c $(MIG_DST_FUZZ_SRCS) | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes \
		$(MBEDTLS_CFLAGS) $^ -o $@

# The migration source and the query client facing a hostile peer (tests/fuzz/fuzz_mig_src.c).
MIG_SRC_FUZZ_SRCS := hv/mig/mig.c hv/mig/mig_src.c hv/mig/mig_query.c hv/mig/mig_stream.c $(COMPRESS_SRCS) \
	hv/mig/mig_auth.c hv/mig/mig_policy.c hv/base/crc32c.c hv/base/config.c hv/base/cmdline.c \
	hv/cpu/cpu_policy_codec.c hv/cpu/cpu_baseline.c tests/fuzz/fuzz_mig_peer.c \
	tests/unit/mig/fake_mig_src.c $(CPU_POLICY_SRCS) tests/unit/fakes/fake_env.c $(MBEDTLS_SRCS)
$(B)/fuzz_mig_src: tests/fuzz/fuzz_mig_src.c $(MIG_SRC_FUZZ_SRCS) tests/fuzz/fuzz_mig_src.h \
		tests/unit/mig/fake_mig_src.h | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes \
		$(LWIP_INCLUDES) $(MBEDTLS_CFLAGS) $(filter %.c,$^) -o $@

# The vCPU state loaders of both backends, fed with the records a migration target takes
# (tests/fuzz/fuzz_vcpu_state.c): what they write must pass VM entry's / VMRUN's checks.
VCPU_STATE_FUZZ_SRCS := arch/x86_64/vmx/vmx_state.c arch/x86_64/vmx/vmx_guest_check.c \
	arch/x86_64/svm/svm_state.c hv/vm/msr.c hv/vm/guest_boot.c hv/mig/mig_stream.c $(COMPRESS_SRCS) \
	hv/base/crc32c.c hv/cpu/cpu_baseline.c $(CPU_POLICY_SRCS)
$(B)/fuzz_vcpu_state: tests/fuzz/fuzz_vcpu_state.c $(VCPU_STATE_FUZZ_SRCS) | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes $^ -o $@

# The migration transport's TLS glue with the real mbedTLS and lwIP's pbufs (tests/fuzz/fuzz_mig_tls.c).
MIG_TLS_FUZZ_SRCS := net/mig_transport.c net/mig_tls.c net/sys_arch.c hv/base/config.c \
	hv/base/cmdline.c \
	tests/unit/fakes/support.c tests/unit/fakes/fake_env.c \
	$(addprefix $(LWIP_DIR)/src/core/, def.c mem.c memp.c pbuf.c stats.c) \
	$(MBEDTLS_SRCS) $(MBEDTLS_TLS_SRCS)
$(B)/fuzz_mig_tls: tests/fuzz/fuzz_mig_tls.c $(MIG_TLS_FUZZ_SRCS) hv/base/mbedtls_config.h \
		net/mig_tls.h net/mig_transport.h net/lwipopts.h | $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes \
		$(LWIP_INCLUDES) $(MBEDTLS_CFLAGS) $(filter %.c,$^) -o $@

# The serial console as typed at (tests/fuzz/fuzz_console.c): the control loop, every command
# handler, the real argument rules below them, fake management actions (fuzz_console_mgmt.c).
# The wraps let the target see each command's line, words and return value.
CONSOLE_FUZZ_SRCS := tests/fuzz/fuzz_console_mgmt.c $(wildcard hv/console/*.c) hv/base/cmdline.c \
	hv/mgmt/mgmt_args.c hv/mgmt/mgmt_mig.c hv/mgmt/mgmt_cpu.c $(CPU_POLICY_FUZZ_SRCS) \
	$(LWIP_DIR)/src/core/ipv4/ip4_addr.c $(LWIP_DIR)/src/core/def.c
$(B)/fuzz_console: tests/fuzz/fuzz_console.c $(CONSOLE_FUZZ_SRCS) tests/fuzz/fuzz_console.h \
		| $(DEPS_STAMP)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LZ4_DIR) -Itests/unit/fakes \
		$(LWIP_INCLUDES) -Wl,--wrap=con_execute,--wrap=cmdline_split $(filter %.c,$^) -o $@

# Each fuzz target: the longest input it gets (0: libFuzzer picks) and its corpus directory.
FUZZ_RUNS := netif:0:fuzz_corpus mig_stream:20000:fuzz_corpus_mig cpu_policy:2000:fuzz_corpus_cpu \
	linux_boot:20000:fuzz_corpus_linux devices:4000:fuzz_corpus_dev multiboot:4000:fuzz_corpus_mb \
	virtq:40000:fuzz_corpus_vq nbd:70000:fuzz_corpus_nbd fpu_area:4200:fuzz_corpus_fpu \
	mig_dst:20000:fuzz_corpus_mig_dst config:4096:fuzz_corpus_cfg acpi:16384:fuzz_corpus_acpi \
	mig_tls:4096:fuzz_corpus_mig_tls console:1024:fuzz_corpus_console \
	vcpu_state:600:fuzz_corpus_vcpu mig_src:4096:fuzz_corpus_mig_src \
	http_req:16384:fuzz_corpus_http

# fuzz_mig_src starts from seeds that reach deltas and a commit, or a stream lost after COMMIT
# (tests/fuzz/seeds_mig_src.py); each must still end as it says, or it no longer tests that.
fuzz: $(foreach r,$(FUZZ_RUNS),$(B)/fuzz_$(word 1,$(subst :, ,$(r))))
	@mkdir -p $(B)/fuzz_corpus_mig_src && $(PYTHON) tests/fuzz/seeds_mig_src.py $(B)/fuzz_corpus_mig_src
	@$(PYTHON) tests/fuzz/seeds_mig_src.py --check $(B)/fuzz_mig_src $(B)/fuzz_corpus_mig_src
	@set -o pipefail; for r in $(FUZZ_RUNS); do \
		IFS=: read -r name len corpus <<<"$$r"; mkdir -p $(B)/$$corpus; \
		$(B)/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) -max_len=$$len \
			-print_final_stats=0 $(B)/$$corpus 2>&1 | tail -1 | sed "s/^/fuzz_$$name: /" || exit 1; \
	done

system: all
	@$(PYTHON) -m pytest -v --durations=15 tests/system

# Builds run on every core (deps first: it unpacks the third-party sources the rules name);
# the tests themselves run one after another.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory check-nosse
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory -j$(JOBS) unit
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz
	@$(MAKE) --no-print-directory system

run: deps
	@$(MAKE) --no-print-directory all
	@tools/run.sh

clean:
	rm -rf $(B)/core $(B)/boot $(B)/guest $(B)/unit $(B)/esp $(B)/*.elf $(B)/*.so $(B)/*.efi $(B)/*.img

-include $(shell find $(B)/core $(B)/boot -name '*.d' 2>/dev/null)
