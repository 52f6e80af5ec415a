/*  log.c — levelled logging to stderr. */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static char s_ident [32] = "gridcall";     //  daemon name on every line
//  the level may change on a reload while other threads log
static _Atomic int s_level = GC_LOG_INFO;
static const char *s_names [] = { "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR" };

void
gc_log_init (const char *ident, gc_log_level_t level)
{
    snprintf (s_ident, sizeof s_ident, "%s", ident);
    atomic_store (&s_level, (int) level);
}

void
gc_log_set_level (gc_log_level_t level)
{
    atomic_store (&s_level, (int) level);
}

gc_log_level_t
gc_log_level (void)
{
    return (gc_log_level_t) atomic_load (&s_level);
}

const char *
gc_log_level_name (gc_log_level_t level)
{
    return level <= GC_LOG_ERROR ? s_names [level] : "?";
}

int
gc_log_level_parse (const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcasecmp (name, s_names [i]) == 0)
            return i;
    return -1;
}

int
gc_log_enabled (gc_log_level_t level)
{
    return (int) level >= atomic_load_explicit (&s_level, memory_order_relaxed);
}

void
gc_log_write (gc_log_level_t level, const char *fmt, ...)
{
    char line [2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday (&tv, NULL);
    gmtime_r (&tv.tv_sec, &tm);
    int n = snprintf (line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec, (int) (tv.tv_usec / 1000), s_ident,
                      s_names [level]);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line + n, sizeof line - n, fmt, ap);
    va_end (ap);
    //  one write per line so lines from threads do not interleave
    fprintf (stderr, "%s\n", line);
}
