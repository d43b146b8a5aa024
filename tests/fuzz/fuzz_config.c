// libFuzzer target: ferry.cfg as the boot volume brings it (hv/base/config.c, config_parse).
//
// Build (make fuzz does) and run from the repository root:
//   make build/fuzz_config && build/fuzz_config -max_total_time=10 -max_len=4096
//
// Checks, beyond the sanitizers: whatever the text, the result is a configuration ferry can
// run with: a hostname of 1-31 letters, digits and '-', limits in their ranges, switches with
// valid names, and a cluster key that is empty or passes config_key_quality; parsing the same
// text twice gives the same configuration.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/config.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hv_config a, b;
    char why[160];
    config_defaults(&a);
    config_defaults(&b);
    int pa = config_parse((const char *)data, size, &a);
    int pb = config_parse((const char *)data, size, &b);
    CHECK(pa == pb && pa >= 0);
    CHECK(!memcmp(&a, &b, sizeof(a)));
    size_t hl = strnlen(a.hostname, sizeof(a.hostname));
    CHECK(hl >= 1 && hl < sizeof(a.hostname));
    for (size_t i = 0; i < hl; i++) {
        char c = a.hostname[i];
        CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-');
    }
    CHECK(a.migrate_incoming_max <= 4 && a.migrate_outgoing_max >= 1 &&
          a.migrate_outgoing_max <= 4);
    CHECK(strnlen(a.cluster_key, sizeof(a.cluster_key)) < sizeof(a.cluster_key));
    CHECK(!a.cluster_key[0] || config_key_quality(a.cluster_key, why, sizeof(why)) == 0);
    CHECK(a.nswitches <= CONFIG_SWITCH_MAX);
    return 0;
}
