#include <errno.h>
#include <string.h>

#include "hv/base/cmdline.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int cmdline_split(char *line, char **argv, int max)
{
    int argc = 0;
    char *r = line, *w = line;

    for (;;) {
        while (is_space(*r))
            r++;
        if (!*r)
            break;
        if (argc == max)
            return -E2BIG;
        argv[argc++] = w;
        bool quoted = false;
        while (*r && (quoted || !is_space(*r))) {
            if (*r == '"')
                quoted = !quoted;
            else
                *w++ = *r;
            r++;
        }
        if (quoted)
            return -EINVAL;
        if (*r)
            r++;
        *w++ = 0;
    }
    return argc;
}

const char *cmdline_opt(const char *word, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(word, key, n) == 0 && word[n] == '=')
        return word + n + 1;
    return NULL;
}

int cmdline_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0, base = 10;

    if (!s || !*s)
        return -EINVAL;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s)
            return -EINVAL;
    }
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return -EINVAL;
        if (v > (UINT64_MAX - d) / base)
            return -ERANGE;
        v = v * base + d;
    }
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}
