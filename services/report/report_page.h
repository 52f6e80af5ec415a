/*  report_page.h — the report's dashboard page, one static HTML document. */
#ifndef REPORT_PAGE_H
#define REPORT_PAGE_H

//  The page, UTF-8, NUL-terminated; served as text/html.
extern const char report_page_html [];

#endif
