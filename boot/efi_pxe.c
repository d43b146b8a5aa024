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

#define LIST_MAX   (8 * 1024)
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

/* A read's failure that says the server has no such file for us: a TFTP error packet
 * (edk2; QEMU's server sends code 0, so any code counts), or EFI_NOT_FOUND (iPXE). */
static bool missing(EFI_STATUS st)
{
    return st == EFI_TFTP_ERROR || st == EFI_NOT_FOUND;
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
    /* The server's error packet means no such file; any other failure to ask (a server
     * without tsize, one that ignores options) leaves the size unknown: the read decides. */
    if (st == EFI_TFTP_ERROR)
        return -1;
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
    ZeroMem((void *)a, n + 1);      /* iPXE does not say how much arrived: no stale bytes */
    UINT64 got = n;
    st = t->pxe->Mtftp(t->pxe, EFI_PXE_BASE_CODE_TFTP_READ_FILE, (void *)a, FALSE, &got, NULL,
                       &t->server, (UINT8 *)path, NULL, FALSE);
    if (EFI_ERROR(st) || got > n || (known && got != n)) {
        BS->FreePages(a, EFI_SIZE_TO_PAGES(n + 1));
        return missing(st) ? -1 : st == EFI_BUFFER_TOO_SMALL && want ? -4 : -3;
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
        /* Words of the line up to a '#': NAME, then SIZE if given, nothing more. */
        const char *w[3];
        size_t wl[3], nw = 0;
        for (const char *c = s; c < e && *c != '#';) {
            if (*c == ' ' || *c == '\t' || *c == '\r') {
                c++;
                continue;
            }
            const char *b = c;
            while (c < e && *c != ' ' && *c != '\t' && *c != '\r' && *c != '#')
                c++;
            if (nw < 3) {
                w[nw] = b;
                wl[nw] = (size_t)(c - b);
            }
            nw++;
        }
        uint64_t want = 0;
        bool ok = nw >= 1 && nw <= 2 && name_ok(w[0], wl[0]);
        for (size_t i = 0; ok && nw == 2 && i < wl[1]; i++) {
            ok = w[1][i] >= '0' && w[1][i] <= '9' && wl[1] <= 10;
            want = want * 10 + (uint64_t)(w[1][i] - '0');
        }
        ok &= nw < 2 || (want && want <= MODULE_MAX);
        if (nw && !ok) {
            loader_log("loader: an images.list line is not NAME [SIZE] (NAME 1-47 of "
                       "[A-Za-z0-9._-], SIZE 1-268435456 bytes): skipped");
        } else if (nw && bi->nmodules == BOOT_MAX_MODULES) {
            loader_log("loader: too many files in images.list, the rest skipped");
            break;
        } else if (nw) {
            char name[48], file[64] = "images/";
            for (size_t i = 0; i < wl[0]; i++)
                name[i] = w[0][i];
            name[wl[0]] = 0;
            append(file, sizeof(file), name);
            struct boot_module *m = &bi->modules[bi->nmodules];
            rc = fetch(t, file, want, MODULE_MAX, false, &m->phys, &m->size);
            if (rc == 0) {
                for (size_t i = 0; i <= wl[0]; i++)
                    m->name[i] = name[i];
                bi->nmodules++;
            } else {
                say(file, why(rc));
            }
        }
        s = e + 1;
    }
    /* (The list's pages are loader data: free memory once ferry runs.) */
}

/*
 * A DHCP option of the packet (RFC 2132: after the magic cookie at 236, code, length, value;
 * 0 pads, 255 ends), within the packet's 1472 bytes: its value and length, or NULL.
 */
static const uint8_t *dhcp_option(const EFI_PXE_BASE_CODE_PACKET *pkt, uint8_t code,
                                  size_t *len)
{
    const uint8_t *r = pkt->Raw;
    size_t at = 240, size = sizeof(pkt->Raw);
    while (at < size && r[at] != 255) {
        if (r[at] == 0) {
            at++;
            continue;
        }
        if (at + 1 >= size || at + 2 + r[at + 1] > size)
            return NULL;
        if (r[at] == code) {
            *len = r[at + 1];
            return r + at + 2;
        }
        at += 2 + (size_t)r[at + 1];
    }
    return NULL;
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
    /* The boot file came from a PXE server's reply, a proxy's offer or the DHCP ACK: its
     * BOOTP fields, or options 67 (boot file) and 54 (the server) where a server sent those
     * instead, as edk2 does. */
    EFI_PXE_BASE_CODE_PACKET *pkt = m->PxeReplyReceived ? &m->PxeReply :
                                    m->ProxyOfferReceived ? &m->ProxyOffer : &m->DhcpAck;
    EFI_PXE_BASE_CODE_DHCPV4_PACKET *p = &pkt->Dhcpv4;
    const uint8_t *si = p->BootpSiAddr, *file = p->BootpBootFile;
    size_t file_len = 0, n = 0;
    while (file_len < sizeof(p->BootpBootFile) && file[file_len])
        file_len++;
    if (!(si[0] | si[1] | si[2] | si[3])) {
        si = dhcp_option(pkt, 54, &n);
        if (!si || n != 4) {
            loader_log("loader: network boot without a TFTP server address: defaults");
            return 0;
        }
    }
    if (!file_len && (file = dhcp_option(pkt, 67, &file_len)) == NULL)
        file_len = 0;
    for (unsigned i = 0; i < 4; i++)
        t.server.v4.Addr[i] = si[i];
    size_t slash = 0;
    for (size_t i = 0; i < file_len && file[i]; i++)
        if (file[i] == '/')
            slash = i + 1;
    if (slash >= sizeof(t.dir))
        slash = 0;
    for (size_t i = 0; i < slash; i++)
        t.dir[i] = (char)file[i];
    fetch_config(&t, m->DhcpAck.Dhcpv4.BootpHwAddr, bi);
    fetch_images(&t, bi);
    return 0;
}
