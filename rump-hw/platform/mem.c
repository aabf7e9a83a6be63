/* Memory: a page allocator (a bitmap, first fit for contiguous runs: the
 * image has tens of MiB, so a scan is cheap and fragmentation is visible)
 * and malloc on top of it: power-of-two size classes 16..2048 carved from
 * pages, so every chunk is aligned to its size; larger requests take whole
 * pages. A page-info byte per page says what a pointer's page holds. */
#include "bmk/kernel.h"

#define PAGE 4096u
#define NCLASS 8 /* 16 << 0 .. 16 << 7 = 2048 */

static uintptr_t base;
static size_t npages, used, peak, hint;
static uint8_t *bitmap;  /* 1 = used */
static uint8_t *pginfo;  /* 0: free/large-tail, 1..8: class+1, 0x80|n: large head */
static uint32_t *pglen;  /* large allocations: pages */
static void *freelist[NCLASS];

static int bit(size_t i) { return bitmap[i >> 3] >> (i & 7) & 1; }
static void setbits(size_t i, size_t n, int v) {
  for (; n; n--, i++) {
    if (v)
      bitmap[i >> 3] |= (uint8_t)(1u << (i & 7));
    else
      bitmap[i >> 3] &= (uint8_t)~(1u << (i & 7));
  }
}

void bmk_mem_init(uintptr_t start, uintptr_t end) {
  start = (start + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
  end &= ~(uintptr_t)(PAGE - 1);
  size_t n = (end - start) / PAGE;
  /* bookkeeping at the start of the region */
  size_t meta = n / 8 + 1 + n + n * sizeof(uint32_t);
  size_t metapages = (meta + PAGE - 1) / PAGE;
  bitmap = (uint8_t *)start;
  pginfo = bitmap + n / 8 + 1;
  pglen = (uint32_t *)(((uintptr_t)(pginfo + n) + 3) & ~(uintptr_t)3);
  for (size_t i = 0; i < metapages * PAGE; i++) ((uint8_t *)start)[i] = 0;
  base = start + metapages * PAGE;
  npages = n - metapages - 1;
}

void *bmk_pgalloc(size_t k) {
  if (!k) k = 1;
  for (int pass = 0; pass < 2; pass++) {
    size_t i = pass ? 0 : hint, lim = pass ? hint : npages;
    while (i + k <= lim) {
      size_t j = 0;
      while (j < k && !bit(i + j)) j++;
      if (j == k) {
        setbits(i, k, 1);
        used += k;
        if (used > peak) peak = used;
        hint = i + k;
        return (void *)(base + i * PAGE);
      }
      i += j + 1;
    }
  }
  return NULL;
}

void bmk_pgfree(void *p, size_t k) {
  size_t i = ((uintptr_t)p - base) / PAGE;
  if (!k) k = 1;
  if ((uintptr_t)p < base || i + k > npages) bmk_panic("pgfree: %p is not a page of ours", p);
  for (size_t j = 0; j < k; j++)
    if (!bit(i + j)) bmk_panic("pgfree: page %p freed twice", (void *)(base + (i + j) * PAGE));
  setbits(i, k, 0);
  used -= k;
  if (i < hint) hint = i;
}

static int class_of(size_t len) {
  int c = 0;
  while ((16u << c) < len) c++;
  return c;
}

void *bmk_malloc(size_t len) {
  if (len > 2048) {
    size_t k = (len + PAGE - 1) / PAGE;
    void *p = bmk_pgalloc(k);
    if (!p) return NULL;
    size_t i = ((uintptr_t)p - base) / PAGE;
    pginfo[i] = 0x80;
    pglen[i] = (uint32_t)k;
    return p;
  }
  int c = class_of(len ? len : 1);
  if (!freelist[c]) {
    uint8_t *pg = bmk_pgalloc(1);
    if (!pg) return NULL;
    pginfo[((uintptr_t)pg - base) / PAGE] = (uint8_t)(c + 1);
    size_t sz = 16u << c;
    for (size_t off = 0; off + sz <= PAGE; off += sz) {
      *(void **)(pg + off) = freelist[c];
      freelist[c] = pg + off;
    }
  }
  void *p = freelist[c];
  freelist[c] = *(void **)p;
  return p;
}

void bmk_free(void *p) {
  if (!p) return;
  size_t i = ((uintptr_t)p - base) / PAGE;
  if ((uintptr_t)p < base || i >= npages || !bit(i)) bmk_panic("free: %p was not allocated", p);
  uint8_t info = pginfo[i];
  if (info & 0x80) {
    pginfo[i] = 0;
    bmk_pgfree(p, pglen[i]);
    return;
  }
  if (!info) bmk_panic("free: %p is inside a large allocation", p);
  int c = info - 1;
  *(void **)p = freelist[c];
  freelist[c] = p; /* class pages are kept: lwIP reuses the same sizes */
}

/* Alignment up to a page is free: chunks are aligned to their size. */
void *bmk_memalloc(size_t len, size_t align) {
  if (align > PAGE) return NULL;
  if (len < align) len = align;
  return bmk_malloc(len);
}

void bmk_memfree(void *p, size_t len) {
  (void)len;
  bmk_free(p);
}

void bmk_mem_stats(struct bmk_mem_stats *out) {
  out->pages_total = npages;
  out->pages_used = used;
  out->pages_peak = peak;
}

/* libc names, for lwIP (MEM_LIBC_MALLOC is off; its sockets and the
 * application use these) */
void *malloc(size_t n);
void *calloc(size_t n, size_t sz);
void free(void *p);
void *malloc(size_t n) { return bmk_malloc(n); }
void free(void *p) { bmk_free(p); }
void *calloc(size_t n, size_t sz) {
  if (sz && n > (size_t)-1 / sz) return NULL;
  char *p = bmk_malloc(n * sz);
  if (p)
    for (size_t i = 0; i < n * sz; i++) p[i] = 0;
  return p;
}
