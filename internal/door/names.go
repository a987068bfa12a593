package door

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrBucketName is wrapped by every naming-rule failure.
var ErrBucketName = errors.New("not a valid bucket name")

// S3BucketName reports whether name follows Amazon S3's rules for general
// purpose buckets (which MinIO follows too): 3 to 63 characters of lower-case
// letters, digits, dots and hyphens, beginning and ending with a letter or
// digit, no two adjacent dots, not an IP address, and none of the reserved
// prefixes and suffixes. A name that passes is safe to put in a URL's host.
func S3BucketName(name string) error {
	if err := commonName("S3", name, 63, "-."); err != nil {
		return err
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("%w: %q is not a valid S3 bucket name: the prefix %q is reserved", ErrBucketName, name, p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return fmt.Errorf("%w: %q is not a valid S3 bucket name: the suffix %q is reserved", ErrBucketName, name, s)
		}
	}
	return nil
}

// GCSBucketName reports whether name follows Cloud Storage's bucket naming
// rules: lower-case letters, digits, hyphens, underscores and dots,
// beginning and ending with a letter or digit, 3 to 63 characters (up to 222
// with dots, each dot-separated part at most 63), not an IP address, not
// beginning with "goog" and not containing "google" or a close misspelling.
// A name that passes is safe to put in a URL's host.
func GCSBucketName(name string) error {
	if err := commonName("Cloud Storage", name, 222, "-_."); err != nil {
		return err
	}
	if !strings.Contains(name, ".") && len(name) > 63 {
		return fmt.Errorf("%w: %q is not a valid Cloud Storage bucket name: more than 63 characters without dots", ErrBucketName, name)
	}
	for part := range strings.SplitSeq(name, ".") {
		if len(part) > 63 {
			return fmt.Errorf("%w: %q is not a valid Cloud Storage bucket name: a dot-separated part is longer than 63 characters", ErrBucketName, name)
		}
	}
	if strings.HasPrefix(name, "goog") {
		return fmt.Errorf("%w: %q is not a valid Cloud Storage bucket name: the prefix goog is reserved", ErrBucketName, name)
	}
	for _, w := range []string{"google", "g00gle", "googl3", "g0ogle", "go0gle"} {
		if strings.Contains(name, w) {
			return fmt.Errorf("%w: %q is not a valid Cloud Storage bucket name: %q is reserved", ErrBucketName, name, w)
		}
	}
	return nil
}

// commonName checks what S3 and Cloud Storage agree on: the length, the
// alphabet (lower-case letters, digits and extra), a letter or digit at
// each end, no two adjacent dots, and not an IPv4 address.
func commonName(provider, name string, maxLen int, extra string) error {
	shown := Clip(name, 70)
	invalid := fmt.Errorf("%w: %q is not a valid %s bucket name", ErrBucketName, shown, provider)
	if len(name) < 3 || len(name) > maxLen {
		return fmt.Errorf("%w: %d characters, want 3 to %d", invalid, len(name), maxLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (!strings.ContainsRune(extra, rune(c)) || i == 0 || i == len(name)-1) {
			return fmt.Errorf("%w: %q at %d", invalid, c, i)
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%w: two adjacent dots", invalid)
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return fmt.Errorf("%w: an IP address", invalid)
	}
	return nil
}
