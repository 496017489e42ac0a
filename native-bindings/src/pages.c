// Unmapping file pages an idle daemon no longer touches. Start-up runs a great deal of code once: V8's
// deserialiser and bootstrapper, the parser and compilers over a 2.5 MB bundle, the built-in modules' sources and
// code cache in node's .rodata, ICU tables. Those pages of /usr/bin/node (and of the shared libraries) stay
// mapped, so counted in the process's resident set, until the kernel's reclaim unmaps them under memory pressure;
// in a daemon with 10 peers they were 42 MiB, against 30 MiB in a bare node.
//
// dropFilePages() gives those mappings' resident pages back with madvise(MADV_DONTNEED), for every mapping that
// is private, readable, not writable, backed by a file, not locked, and holds no anonymous (copied-on-write) page.
// For such a mapping the call changes nothing the process can observe: its pages are identical to the file's,
// stay in the page cache (shared with every other process running node), and the next access maps the same page
// again with a minor fault. A mapping that holds a private copy (the RELRO segment after relocation, a page
// patched by a debugger) is left alone: there DONTNEED would throw the copy away. What is used again comes back;
// what start-up alone needed stays out of the resident set, where the kernel can reclaim it without first
// unmapping it from every daemon.
//
// The candidates are read from /proc/self/smaps, whose per-mapping block ends with its VmFlags line: Rss and
// Anonymous come before it, so each mapping is decided when its VmFlags line is read. Returns the kB of
// resident pages the unmapped mappings held, or -errno when smaps cannot be read.

#include "addon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

struct mapping {
  unsigned long start, end;
  int readonly_file;
  long rss_kb, anon_kb;
};

/* The "Name:   N kB" field value of a smaps line that starts with name, or -1. */
static long field_kb(const char *line, const char *name) {
  size_t n = strlen(name);
  if (strncmp(line, name, n) != 0) return -1;
  long kb = -1;
  if (sscanf(line + n, " %ld", &kb) != 1) return -1;
  return kb;
}

static long drop_file_pages(void) {
  FILE *f = fopen("/proc/self/smaps", "re");
  if (f == NULL) return -errno;
  char line[1024];
  struct mapping m = {0};
  int have = 0;
  long dropped = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    unsigned long start, end, offset, inode;
    char perms[8], dev[32];
    // A header line: "start-end perms offset dev inode [path]" (field lines start with a capital letter).
    if (line[0] >= 'A' && line[0] <= 'Z') {
      long kb;
      if ((kb = field_kb(line, "Rss:")) >= 0) m.rss_kb = kb;
      else if ((kb = field_kb(line, "Anonymous:")) >= 0) m.anon_kb = kb;
      else if (have && strncmp(line, "VmFlags:", 8) == 0) {
        // Locked (lo) and I/O or PFN mappings (io, pf) are not ours to unmap.
        int skip = strstr(line, " lo") != NULL || strstr(line, " io") != NULL || strstr(line, " pf") != NULL;
        if (m.readonly_file && m.anon_kb == 0 && m.rss_kb > 0 && !skip &&
            madvise((void *)m.start, m.end - m.start, MADV_DONTNEED) == 0)
          dropped += m.rss_kb;
        have = 0;
      }
      continue;
    }
    if (sscanf(line, "%lx-%lx %7s %lx %31s %lu", &start, &end, perms, &offset, dev, &inode) != 6) continue;
    m.start = start;
    m.end = end;
    m.readonly_file = perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' && inode != 0;
    m.rss_kb = -1;
    m.anon_kb = -1;
    have = 1;
  }
  fclose(f);
  return dropped;
}

/* dropFilePages(): kB of resident file pages unmapped, or -errno. */
static napi_value drop_file_pages_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_int64(env, drop_file_pages(), &out);
  return out;
}

void br_init_pages(napi_env env, napi_value exports) {
  br_export(env, exports, "dropFilePages", drop_file_pages_js);
}
