/*
 * Network boot: ferry.cfg and guest images from the TFTP server the firmware booted ferry
 * from (the PXE base code on the loaded image's device), looked for next to the boot file:
 *
 *   ferry-52-54-00-12-34-56.cfg   this host's own (the booting NIC's MAC), else
 *   ferry.cfg                     the one every host shares;
 *   images.list                   guest images, a line each: NAME [SIZE] ('#' starts a
 *                                 comment), each fetched from images/NAME.
 *
 * A name in images.list is 1-47 of [A-Za-z0-9._-] and does not start with '.', so nothing
 * outside images/ can be asked for; at most BOOT_MAX_MODULES are fetched, each at most
 * MODULE_MAX bytes. SIZE (bytes) is needed where the firmware's TFTP cannot say how large a
 * file is (iPXE's), and checked where it can (edk2's). Anything missing or wrong is logged
 * and ferry goes on with what it has.
 */
#include <efi.h>
#include <efilib.h>
#include <stdbool.h>
#include <stddef.h>

#include "boot/loader.h"

#define CONFIG_MAX (64 * 1024)
#define LIST_MAX   (8 * 1024)
#define MODULE_MAX (256ull * 1024 * 1024)
#define TFTP_PATH  192

struct tftp {
    EFI_PXE_BASE_CODE_PROTOCOL *pxe;
    EFI_IP_ADDRESS server;
    char dir[128];                  /* the boot file's directory, with its '/' (or empty) */
};

static void append(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    while (n < cap - 1 && dst[n])
        n++;
    while (n < cap - 1 && *s)
        dst[n++] = *s++;
    dst[n] = 0;
}

static void say(const char *a, const char *b)
{
    char line[TFTP_PATH + 96] = "";
    append(line, sizeof(line), a);
    append(line, sizeof(line), b);
    loader_log(line);
}

/*
 * dir + name from the server into new loader pages (NUL-terminated). Its size comes from the
 * server (TFTP tsize) where the PXE code can ask for it (edk2's can; iPXE's cannot, and its
 * reads do not say how much arrived either); else from want (images.list), or, for text,
 * from the text's end in a max-byte buffer. 0, or -1 if the server has no such file, -2 if it
 * is larger than max, -3 if it could not be read, -4 if its size differs from want, -5 if
 * its size cannot be known.
 */
static int fetch(struct tftp *t, const char *name, uint64_t want, uint64_t max, bool text,
                 uint64_t *phys, uint64_t *size)
{
    char path[TFTP_PATH] = "";
    EFI_PHYSICAL_ADDRESS a = 0;
    UINT64 n = 0;
    append(path, sizeof(path), t->dir);
    append(path, sizeof(path), name);
    EFI_STATUS st = t->pxe->Mtftp(t->pxe, EFI_PXE_BASE_CODE_TFTP_GET_FILE_SIZE, NULL, FALSE, &n,
                                  NULL, &t->server, (UINT8 *)path, NULL, FALSE);
    bool known = !EFI_ERROR(st);
    if (!known && st != EFI_UNSUPPORTED)
        return st == EFI_TFTP_ERROR || st == EFI_NOT_FOUND ? -1 : -3;
    if (known && want && n != want)
        return -4;
    if (!known)
        n = want ? want : text ? max : 0;
    if (!n && !known)
        return -5;
    if (n > max)
        return -2;
    if (EFI_ERROR(BS->AllocatePages(AllocateAnyPages, EfiLoaderData, EFI_SIZE_TO_PAGES(n + 1),
                                    &a)))
        return -3;
    UINT64 got = n;
    st = t->pxe->Mtftp(t->pxe, EFI_PXE_BASE_CODE_TFTP_READ_FILE, (void *)a, FALSE, &got, NULL,
                       &t->server, (UINT8 *)path, NULL, FALSE);
    if (EFI_ERROR(st) || got > n || (known && got != n)) {
        BS->FreePages(a, EFI_SIZE_TO_PAGES(n + 1));
        return st == EFI_TFTP_ERROR || st == EFI_NOT_FOUND ? -1 :
               st == EFI_BUFFER_TOO_SMALL && want ? -4 : -3;
    }
    ((char *)a)[got] = 0;
    if (text && !known) {
        got = 0;
        while (got < n && ((char *)a)[got])
            got++;
    }
    *phys = a;
    *size = got;
    return 0;
}

static const char *why(int rc)
{
    return rc == -1 ? " is not on the TFTP server, skipped" :
           rc == -2 ? " is too large, skipped" :
           rc == -4 ? " has another size than images.list says, skipped" :
           rc == -5 ? ": images.list gives no size, and this firmware's TFTP cannot tell it "
                      "(add the size in bytes after the name), skipped" :
                      " could not be read, skipped";
}

static void fetch_config(struct tftp *t, const uint8_t *mac, struct boot_info *bi)
{
    static const char hex[] = "0123456789abcdef";
    char own[40] = "ferry-";
    for (unsigned i = 0; i < 6; i++) {
        char b[4] = { hex[mac[i] >> 4], hex[mac[i] & 15], i < 5 ? '-' : 0, 0 };
        append(own, sizeof(own), b);
    }
    append(own, sizeof(own), ".cfg");
    const char *names[] = { own, "ferry.cfg" };
    for (unsigned i = 0; i < 2; i++) {
        int rc = fetch(t, names[i], 0, CONFIG_MAX, true, &bi->config_phys, &bi->config_size);
        if (rc == 0) {
            say("loader: configuration over TFTP: ", names[i]);
            return;
        }
        if (rc != -1) {
            say(names[i], why(rc));
            return;
        }
    }
    loader_log("loader: no ferry.cfg on the TFTP server, using defaults");
}

static bool name_ok(const char *s, size_t n)
{
    if (!n || n > 47 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void fetch_images(struct tftp *t, struct boot_info *bi)
{
    uint64_t lp, ln;
    int rc = fetch(t, "images.list", 0, LIST_MAX, true, &lp, &ln);
    if (rc) {
        if (rc != -1)
            say("images.list", why(rc));
        return;
    }
    const char *s = (const char *)lp, *end = s + ln;
    while (s < end) {
        const char *e = s;
        while (e < end && *e != '\n')
            e++;
        size_t n = (size_t)(e - s);
        while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        if (n && *s != '#') {
            size_t k = 0;                   /* NAME [SIZE] */
            uint64_t want = 0;
            bool bad = false;
            while (k < n && s[k] != ' ' && s[k] != '\t')
                k++;
            for (size_t i = k; i < n; i++) {
                if (s[i] >= '0' && s[i] <= '9' && want < MODULE_MAX)
                    want = want * 10 + (uint64_t)(s[i] - '0');
                else if (s[i] != ' ' && s[i] != '\t')
                    bad = true;
            }
            char name[48], file[64] = "images/";
            if (!name_ok(s, k) || bad) {
                loader_log("loader: an images.list line is not NAME [SIZE] with NAME 1-47 of "
                           "[A-Za-z0-9._-]: skipped");
            } else if (bi->nmodules == BOOT_MAX_MODULES) {
                loader_log("loader: too many files in images.list, the rest skipped");
                break;
            } else {
                for (size_t i = 0; i < k; i++)
                    name[i] = s[i];
                name[k] = 0;
                append(file, sizeof(file), name);
                struct boot_module *m = &bi->modules[bi->nmodules];
                rc = fetch(t, file, want, MODULE_MAX, false, &m->phys, &m->size);
                if (rc == 0) {
                    for (size_t i = 0; i <= k; i++)
                        m->name[i] = name[i];
                    bi->nmodules++;
                } else {
                    say(file, why(rc));
                }
            }
        }
        s = e + 1;
    }
    /* (The list's pages are loader data: free memory once ferry runs.) */
}

/* 0 if dev was booted over PXE (what its server has was fetched), -1 if not. */
int loader_files_pxe(EFI_HANDLE dev, struct boot_info *bi)
{
    EFI_GUID g = EFI_PXE_BASE_CODE_PROTOCOL_GUID;
    struct tftp t = { 0 };
    if (EFI_ERROR(BS->HandleProtocol(dev, &g, (void **)&t.pxe)) || !t.pxe || !t.pxe->Mode ||
        !t.pxe->Mode->Started || !t.pxe->Mode->DhcpAckReceived || t.pxe->Mode->UsingIpv6)
        return -1;
    EFI_PXE_BASE_CODE_MODE *m = t.pxe->Mode;
    /* The boot file came from a PXE server's reply, a proxy's offer or the DHCP ACK. */
    EFI_PXE_BASE_CODE_DHCPV4_PACKET *p =
        m->PxeReplyReceived ? &m->PxeReply.Dhcpv4 :
        m->ProxyOfferReceived ? &m->ProxyOffer.Dhcpv4 : &m->DhcpAck.Dhcpv4;
    const uint8_t *si = p->BootpSiAddr;
    if (!(si[0] | si[1] | si[2] | si[3])) {
        loader_log("loader: network boot without a TFTP server address: defaults");
        return 0;
    }
    for (unsigned i = 0; i < 4; i++)
        t.server.v4.Addr[i] = si[i];
    size_t slash = 0;
    for (size_t i = 0; i < sizeof(p->BootpBootFile) && p->BootpBootFile[i]; i++)
        if (p->BootpBootFile[i] == '/')
            slash = i + 1;
    if (slash >= sizeof(t.dir))
        slash = 0;
    for (size_t i = 0; i < slash; i++)
        t.dir[i] = (char)p->BootpBootFile[i];
    fetch_config(&t, m->DhcpAck.Dhcpv4.BootpHwAddr, bi);
    fetch_images(&t, bi);
    return 0;
}
