/*
 * Known bugs in hv/base/frame.c, one test each. These fail until the code is fixed, so this file
 * has no .mk fragment; build it by hand:
 *   gcc -std=gnu11 -g -O1 -Wall -Wextra -fsanitize=address,undefined \
 *       -fno-sanitize-recover=all -fno-omit-frame-pointer -I. -Itests/unit/fakes \
 *       tests/unit/base/test_frame_regress.c hv/base/frame.c tests/unit/fakes/support.c -lcmocka \
 *       -o build/unit/test_frame_bugs
 * Once fixed, move the tests into test_frame.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv/base/mem.h"
#include "support.h"

#define MiB      (1024ull * 1024)
#define PG       PAGE_SIZE
#define RAM_SIZE (64 * MiB)

static uint8_t *ram;

static void *test_p2v(uint64_t pa)
{
    if (pa >= RAM_SIZE)
        fail_msg("p2v(0x%llx) outside simulated RAM", (unsigned long long)pa);
    return ram + pa;
}

static uint64_t node_free(unsigned node)
{
    struct frame_stats s;

    frame_node_stats(node, &s);
    return s.free_pages;
}

static int group_setup(void **state)
{
    (void)state;
    ram = aligned_alloc(4096, RAM_SIZE);
    return ram ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    memset(ram, 0xa5, RAM_SIZE);
    unit_log_reset();
    return 0;
}

/*
 * frame_free() accepts the zone's own bitmap page: its bit is set, so the "double free"
 * check passes, the bit is cleared and z->free grows. The next allocation that reaches the
 * zone's start hands out the bitmap itself (and FRAME_ZERO then wipes the bitmap).
 */
static void test_free_of_bitmap_page_is_refused(void **state)
{
    static const struct boot_mem_region m[] = {
        { .base = 1 * MiB, .pages = 16, .type = BOOT_MEM_USABLE },
    };

    (void)state;
    assert_int_equal(frame_init(m, 1, NULL, 0, 1, test_p2v), 0);
    assert_int_equal(node_free(0), 15);
    frame_free(1 * MiB, 1);                 /* zone base: the bitmap page, never handed out */
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_int_equal(node_free(0), 15);
    for (int i = 0; i < 16; i++)
        assert_int_not_equal(frame_alloc(0, 1, 1, 0), 1 * MiB);
}

/*
 * frame_free()'s range check computes phys + pages * PAGE_SIZE, which wraps for a huge
 * page count: pages = 2^52 + 1 looks like one page, passes the check, and the loop then
 * walks 2^52 + 1 bits from the bitmap across the zone's memory and off the end of RAM.
 * Expected: refused and logged as unmanaged. Run in a child because it crashes.
 */
static void test_free_huge_count_is_refused(void **state)
{
    static const struct boot_mem_region m[] = {
        { .base = 60 * MiB, .pages = 1024, .type = BOOT_MEM_USABLE },  /* ends at RAM's end */
    };
    int status;

    (void)state;
    memset(ram, 0xff, RAM_SIZE);            /* every bit "used": no log per frame, just damage */
    assert_int_equal(frame_init(m, 1, NULL, 0, 1, test_p2v), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!getenv("UNIT_VERBOSE"))
            dup2(open("/dev/null", O_WRONLY), 2);
        frame_free(60 * MiB + PG, (1ull << 52) + 1);
        _exit(unit_log_count[LOG_ERR] == 1 && node_free(0) == 1023 ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 1);   /* ASan's exit code: memory error */
    assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * A node boundary that is not page aligned (SRAT lengths are in bytes) becomes a zone base
 * as is: every frame of the upper zone is then handed out at a non-page-aligned address,
 * and the frame straddling the boundary is given to both neighbours' arithmetic.
 * Expected: zones start and end on page boundaries; frame_alloc returns aligned addresses.
 */
static void test_unaligned_node_boundary(void **state)
{
    static const struct boot_mem_region m[] = {
        { .base = 1 * MiB, .pages = 63 * MiB / PG, .type = BOOT_MEM_USABLE },
    };
    static const struct frame_node_range r[] = {
        { .base = 0, .end = 32 * MiB + 0x800, .node = 0 },
        { .base = 32 * MiB + 0x800, .end = 64 * MiB, .node = 1 },
    };
    uint64_t a;

    (void)state;
    assert_int_equal(frame_init(m, 1, r, 2, 2, test_p2v), 0);
    for (unsigned i = 0; i < frame_zone_count(); i++)
        assert_int_equal(frame_zone_get(i)->base % PG, 0);
    a = frame_alloc(1, 1, 1, FRAME_STRICT);
    assert_int_not_equal(a, 0);
    assert_int_equal(a % PG, 0);
    a = frame_alloc(1, 512, 512, FRAME_STRICT);
    assert_int_equal(a % (2 * MiB), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_free_of_bitmap_page_is_refused, setup),
        cmocka_unit_test_setup(test_free_huge_count_is_refused, setup),
        cmocka_unit_test_setup(test_unaligned_node_boundary, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
