/*  log.h — levelled logging to stderr, one macro per level.
    The level is checked before the message is formatted (Redis serverLog).
    Lines read: "<time> <daemon> <LEVEL> who: call() "object" failed: reason". */
#ifndef GC_LOG_H
#define GC_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    GC_LOG_DEBUG = 0,
    GC_LOG_INFO = 1,
    GC_LOG_NOTICE = 2,
    GC_LOG_WARNING = 3,
    GC_LOG_ERROR = 4
} gc_log_level_t;

//  Process-wide log settings: set once by main before any thread starts.
void gc_log_init (const char *ident, gc_log_level_t level);
//  Change the level while threads run (a reload on SIGHUP); atomic.
void gc_log_set_level (gc_log_level_t level);
gc_log_level_t gc_log_level (void);
const char *gc_log_level_name (gc_log_level_t level);
//  Parse "debug", "info", "notice", "warning" or "error"; -1 when unknown.
int gc_log_level_parse (const char *name);
int gc_log_enabled (gc_log_level_t level);
//  Write one line; control characters in the formatted message (from ids,
//  names, texts a peer sent) are escaped (\n, \r, \t, \xNN), so a line
//  is always one line and a peer cannot forge another.
void gc_log_write (gc_log_level_t level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
//  Copy text into out (size bytes, NUL-terminated, cut short when full)
//  with its control characters escaped as gc_log_write does.
void gc_log_escape (const char *text, char *out, size_t size);

#define GC_LOG(lvl, ...) \
    do { if (gc_log_enabled (lvl)) gc_log_write (lvl, __VA_ARGS__); } while (0)
#define log_debug(...)   GC_LOG (GC_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    GC_LOG (GC_LOG_INFO, __VA_ARGS__)
#define log_notice(...)  GC_LOG (GC_LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) GC_LOG (GC_LOG_WARNING, __VA_ARGS__)
#define log_error(...)   GC_LOG (GC_LOG_ERROR, __VA_ARGS__)

#endif
