/*  test_intake_media.c — photos: told by their first bytes, stored by
    content hash, and the URLs a report may carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "intake_media.h"

static void
test_magic_bytes (void **state)
{
    (void) state;
    const char jpeg [] = "\xff\xd8\xff\xe0\x00\x10JFIF";
    const char png [] = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
    assert_string_equal (intake_media_type (jpeg, sizeof jpeg - 1), "jpg");
    assert_string_equal (intake_media_type (png, sizeof png), "png");
    //  a name is not a type: text, GIF, a short JPEG start, an empty file
    assert_null (intake_media_type ("hello, world, not a photo", 25));
    assert_null (intake_media_type ("GIF89a\x01\x00\x01\x00", 10));
    assert_null (intake_media_type ("\xff\xd8", 2));
    assert_null (intake_media_type ("", 0));
    //  PNG's signature cut before its first chunk
    assert_null (intake_media_type (png, 8));
}

static void
test_names (void **state)
{
    (void) state;
    char name [80];
    memset (name, 'a', 64);
    strcpy (name + 64, ".jpg");
    assert_true (intake_media_name_valid (name));
    strcpy (name + 64, ".gif");
    assert_false (intake_media_name_valid (name));
    strcpy (name + 64, ".png");
    name [3] = 'G';             //  lower-case hex only
    assert_false (intake_media_name_valid (name));
    assert_false (intake_media_name_valid ("../../etc/passwd"));
}

static void
test_urls (void **state)
{
    (void) state;
    Gridcall__V1__Report r = GRIDCALL__V1__REPORT__INIT;
    char reason [256];
    char *good [] = { "https://example.org/a.jpg", "http://x.cn/p?id=1",
        "media:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.png" };
    r.media_urls = good;
    r.n_media_urls = 3;
    assert_int_equal (intake_media_check_urls (&r, reason, sizeof reason), 0);
    char *bad [][1] = { { "javascript:alert(1)" }, { "https://" }, { "https://a b/c" },
                        { "media:../x.jpg" }, { "ftp://example.org/a.jpg" },
                        { "https://example.org/\"><script>" } };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        r.media_urls = bad [i];
        r.n_media_urls = 1;
        assert_int_equal (intake_media_check_urls (&r, reason, sizeof reason),
                          GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
        assert_non_null (strstr (reason, "media_urls[0]"));
    }
    char *many [INTAKE_MEDIA_URLS_MAX + 1];
    for (size_t i = 0; i <= INTAKE_MEDIA_URLS_MAX; i++)
        many [i] = "https://example.org/a.jpg";
    r.media_urls = many;
    r.n_media_urls = INTAKE_MEDIA_URLS_MAX + 1;
    assert_int_equal (intake_media_check_urls (&r, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
}

static void
test_store_by_hash (void **state)
{
    (void) state;
    char dir [] = "/tmp/gc-media-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char sub [64], name [INTAKE_MEDIA_NAME_MAX], again [INTAKE_MEDIA_NAME_MAX], path [200];
    snprintf (sub, sizeof sub, "%s/photos", dir);
    assert_int_equal (intake_media_store (sub, "abc", 3, "jpg", name, sizeof name), 0);
    //  SHA-256 of "abc"
    assert_string_equal (name,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.jpg");
    assert_int_equal (intake_media_store (sub, "abc", 3, "jpg", again, sizeof again), 0);
    assert_string_equal (again, name);
    snprintf (path, sizeof path, "%s/%s", sub, name);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    char buf [8] = "";
    assert_int_equal (fread (buf, 1, sizeof buf, f), 3);
    fclose (f);
    assert_memory_equal (buf, "abc", 3);
    unlink (path);
    rmdir (sub);
    rmdir (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_magic_bytes),
        cmocka_unit_test (test_names),
        cmocka_unit_test (test_urls),
        cmocka_unit_test (test_store_by_hash),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
