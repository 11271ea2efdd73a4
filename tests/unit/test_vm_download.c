/* SPDX-License-Identifier: BSD-2-Clause */
/* download's pure parts: the file name a URL lands in, and checksums as users give them. The
 * transfers run against a local server in tests/vm/fetch.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm/download.h"

static void name_is(const char *url, const char *want)
{
	char out[256], err[512];
	assert_int_equal(dl_file_name(url, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, want);
}

static void name_refused(const char *url)
{
	char out[256], err[512] = "";
	assert_int_equal(dl_file_name(url, out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
}

static void test_file_names(void **state)
{
	name_is("https://cdimage.debian.org/debian-cd/current/amd64/iso-cd/debian-12.8.0-amd64-netinst.iso",
		"debian-12.8.0-amd64-netinst.iso");
	name_is("http://127.0.0.1:8080/a.iso", "a.iso");
	name_is("https://example.org/img/jammy.img?download=1#frag", "jammy.img");
	name_is("ftp://ftp.example.org/pub/FreeBSD-14.1-RELEASE-amd64-disc1.iso",
		"FreeBSD-14.1-RELEASE-amd64-disc1.iso");
	name_is("https://example.org/c++.iso", "c++.iso");
	name_refused("/etc/passwd");
	name_refused("file:///etc/passwd");
	name_refused("gopher://example.org/x.iso");
	name_refused("https://example.org");
	name_refused("https://example.org/");
	name_refused("https://example.org/dir/");
	name_refused("https://example.org/.hidden");
	name_refused("https://example.org/-rf");
	name_refused("https://example.org/a%20b.iso");
	name_refused("https://example.org/a b.iso");
	name_refused("https://example.org/..");
	char longurl[400] = "https://example.org/";
	memset(longurl + strlen(longurl), 'a', 250);
	name_refused(longurl);
	/* a buffer too small for the name is refused, not cut */
	char small[4], err[256];
	assert_int_equal(dl_file_name("http://h/abcdef.iso", small, sizeof(small), err, sizeof(err)), -EINVAL);
}

static void test_checksums(void **state)
{
	char out[65];
	const char *hex = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
	assert_true(dl_sha256_parse(hex, out));
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	char prefixed[80];
	snprintf(prefixed, sizeof(prefixed), "sha256:%s", hex);
	assert_true(dl_sha256_parse(prefixed, out));
	assert_false(dl_sha256_parse("abc", out));
	assert_false(dl_sha256_parse("", out));
	assert_false(dl_sha256_parse("md5:d41d8cd98f00b204e9800998ecf8427e", out));
	char bad[65];
	memcpy(bad, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g", 65);
	assert_false(dl_sha256_parse(bad, out));
	char longer[80];
	snprintf(longer, sizeof(longer), "%s0", hex);
	assert_false(dl_sha256_parse(longer, out));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_names),
	    cmocka_unit_test(test_checksums),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
