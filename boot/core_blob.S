/* The core ELF, embedded so that one file boots. */
    .section .rodata
    .balign 4096
    .globl core_blob_start, core_blob_end
core_blob_start:
    .incbin CORE_ELF
core_blob_end:
