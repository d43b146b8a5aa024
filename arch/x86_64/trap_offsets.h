/* The assembly stubs push exactly struct trap_frame (see trap.h); checked in trap.c. */
#define TRAP_FRAME_SIZE (22 * 8)
