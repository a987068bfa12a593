package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

func TestConformanceMemblob(t *testing.T) {
	pipelinetest.Run(t, func(t *testing.T) *blob.Bucket { return memblob.OpenBucket(nil) })
}

func TestConformanceFileblob(t *testing.T) {
	pipelinetest.Run(t, func(t *testing.T) *blob.Bucket {
		b, err := fileblob.OpenBucket(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestValidate(t *testing.T) {
	ok := pipeline.DefaultConfig()
	tests := []struct {
		name     string
		edit     func(c *pipeline.Config)
		wants    []string // each must appear in the error; none = valid
		separate bool     // thumbnails go to a bucket of their own: ValidateFor(true)
	}{
		{"defaults", func(c *pipeline.Config) {}, nil, false},
		{"no sizes", func(c *pipeline.Config) { c.Sizes = nil }, []string{"at least one size"}, false},
		{"zero width", func(c *pipeline.Config) { c.Sizes = []pipeline.Size{{Width: 0, Height: 10, Mode: "fit"}} }, []string{"1 to 10000"}, false},
		{"bad mode", func(c *pipeline.Config) { c.Sizes = []pipeline.Size{{Width: 10, Height: 10, Mode: "stretch"}} }, []string{`mode "stretch"`}, false},
		{"same box twice", func(c *pipeline.Config) {
			c.Sizes = []pipeline.Size{{Width: 10, Height: 10, Mode: "fit"}, {Width: 10, Height: 10, Mode: "fill"}}
		}, []string{"listed twice"}, false},
		{"format", func(c *pipeline.Config) { c.Format = "heic" }, []string{`format "heic"`}, false},
		{"quality", func(c *pipeline.Config) { c.JPEGQuality = 101 }, []string{"quality 101"}, false},
		{"colour policy", func(c *pipeline.Config) { c.Color = "p3" }, []string{`colour policy "p3"`}, false},
		{"colour policy keep", func(c *pipeline.Config) { c.Color = pixels.ColorKeep }, nil, false},
		{"colour policy unset", func(c *pipeline.Config) { c.Color = "" }, nil, false},
		{"prefix without slash", func(c *pipeline.Config) { c.Prefix = "thumbs" }, []string{"must end with /"}, false},
		{"empty prefix same bucket", func(c *pipeline.Config) { c.Prefix = "" }, []string{"mix with sources"}, false},
		{"empty prefix other bucket", func(c *pipeline.Config) { c.Prefix = "" }, nil, true},
		{"limits", func(c *pipeline.Config) { c.MaxBytes = 0; c.MaxPixels = -1; c.MaxDecodeMemory = 0 }, []string{"max bytes 0", "max pixels -1", "max decode memory 0"}, false},
		{"bad glob", func(c *pipeline.Config) { c.Exclude = []string{"[a"} }, []string{`glob "[a"`}, false},
		{"include everything", func(c *pipeline.Config) { c.Include = []string{"**"} }, []string{`include "**" matches thumbnails`}, false},
		{"include all jpgs", func(c *pipeline.Config) { c.Include = []string{"**/*.jpg"} }, []string{`include "**/*.jpg"`}, false},
		{"include the prefix", func(c *pipeline.Config) { c.Include = []string{"thumbnails/**"} }, []string{"thumbnails would be thumbnailed"}, false},
		{"include all jpgs but exclude outputs", func(c *pipeline.Config) {
			c.Include = []string{"**/*.jpg"}
			c.Exclude = []string{"thumbnails/**"}
		}, nil, false},
		{"include uploads", func(c *pipeline.Config) { c.Include = []string{"uploads/**"} }, nil, false},
		{"include top level only", func(c *pipeline.Config) { c.Include = []string{"*.jpg"} }, nil, false},
		{"include everything, other bucket", func(c *pipeline.Config) { c.Include = []string{"**"} }, nil, true},
		{"include everything and empty prefix, other bucket", func(c *pipeline.Config) { c.Include = []string{"**"}; c.Prefix = "" }, nil, true},
		{"bad format, other bucket", func(c *pipeline.Config) { c.Format = "heic" }, []string{`format "heic"`}, true},
		{"every problem at once", func(c *pipeline.Config) {
			c.Sizes = nil
			c.Format = "x"
			c.JPEGQuality = 0
		}, []string{"at least one size", `format "x"`, "quality 0"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.ValidateFor(tc.separate)
			if !tc.separate {
				if err2 := c.Validate(); fmt.Sprint(err2) != fmt.Sprint(err) {
					t.Errorf("Validate() = %v, ValidateFor(false) = %v; want the same", err2, err)
				}
			}
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors %q, got none", tc.wants)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestNewThumbnailerValidatesForItsOutput checks that NewThumbnailer
// judges a config by the bucket it is given: what is refused in the source
// bucket is fine in a bucket of its own.
func TestNewThumbnailerValidatesForItsOutput(t *testing.T) {
	everything := pipeline.DefaultConfig()
	everything.Include = []string{"**"}
	noPrefix := pipeline.DefaultConfig()
	noPrefix.Prefix = ""
	tests := []struct {
		name string
		cfg  pipeline.Config
		out  bool
		want string // in the error; "" = made
	}{
		{"include everything, source bucket", everything, false, "would be thumbnailed"},
		{"include everything, own bucket", everything, true, ""},
		{"no prefix, source bucket", noPrefix, false, "mix with sources"},
		{"no prefix, own bucket", noPrefix, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out *blob.Bucket
			if tc.out {
				out = memblob.OpenBucket(nil)
				defer out.Close()
			}
			th, err := pipeline.NewThumbnailer(tc.cfg, out)
			if tc.want == "" {
				if err != nil || th == nil {
					t.Fatalf("NewThumbnailer = %v, %v; want a Thumbnailer", th, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewThumbnailer error = %v; want one saying %q", err, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want pipeline.Size
		err  bool
	}{
		{"200x200", pipeline.Size{Width: 200, Height: 200, Mode: pixels.Fit}, false},
		{" 640X480:fill ", pipeline.Size{Width: 640, Height: 480, Mode: pixels.Fill}, false},
		{"64x32:fit", pipeline.Size{Width: 64, Height: 32, Mode: pixels.Fit}, false},
		{"800x600: Fill", pipeline.Size{Width: 800, Height: 600, Mode: pixels.Fill}, false},
		{"200", pipeline.Size{}, true},
		{"ax200", pipeline.Size{}, true},
		{"200x", pipeline.Size{}, true},
	}
	for _, tc := range tests {
		got, err := pipeline.ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestVariantKey(t *testing.T) {
	box := pipeline.Size{Width: 200, Height: 200, Mode: pixels.Fit}
	tests := []struct {
		prefix, key string
		out         pixels.Format
		want        string
	}{
		{"thumbnails/", "a/b.jpg", pixels.JPEG, "thumbnails/200x200/a/b.jpg"},
		{"thumbnails/", "a/b.JPEG", pixels.JPEG, "thumbnails/200x200/a/b.JPEG"},
		{"thumbnails/", "a/b.png", pixels.PNG, "thumbnails/200x200/a/b.png"},
		{"thumbnails/", "a/b.png", pixels.JPEG, "thumbnails/200x200/a/b.png.jpg"},
		{"thumbnails/", "a/b.webp", pixels.JPEG, "thumbnails/200x200/a/b.webp.jpg"},
		{"thumbnails/", "a/b.webp", pixels.WebP, "thumbnails/200x200/a/b.webp"},
		{"thumbnails/", "a/b.WebP", pixels.WebP, "thumbnails/200x200/a/b.WebP"},
		{"thumbnails/", "a/b.jpg", pixels.WebP, "thumbnails/200x200/a/b.jpg.webp"},
		{"thumbnails/", "noext", pixels.GIF, "thumbnails/200x200/noext.gif"},
		{"thumbnails/", "my photo+1.jpg", pixels.JPEG, "thumbnails/200x200/my photo+1.jpg"},
		{"", "x.gif", pixels.GIF, "200x200/x.gif"},
		{"t/", "dir.png/x", pixels.PNG, "t/200x200/dir.png/x.png"},
	}
	for _, tc := range tests {
		c := pipeline.DefaultConfig()
		c.Prefix = tc.prefix
		if got := c.VariantKey(tc.key, box, tc.out); got != tc.want {
			t.Errorf("VariantKey(%q, %q, %s) = %q, want %q", tc.prefix, tc.key, tc.out, got, tc.want)
		}
	}
}

func TestSelects(t *testing.T) {
	c := pipeline.DefaultConfig()
	c.Include = []string{"uploads/**", "*.png"}
	c.Exclude = []string{"**/private/**", "**/*.tmp"}
	tests := []struct {
		key  string
		want bool
	}{
		{"uploads/cat.jpg", true},
		{"uploads/a/b/c.jpg", true},
		{"top.png", true},
		{"top.jpg", false},
		{"thumbnails/200x200/uploads/cat.jpg", false},
		{"uploads/private/cat.jpg", false},
		{"uploads/cat.tmp", false},
		{"uploads/", false},
		{"", false},
	}
	for _, tc := range tests {
		if got, why := c.Selects(tc.key); got != tc.want || !got && why == "" {
			t.Errorf("Selects(%q) = %v, %q; want %v with a reason when false", tc.key, got, why, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	b := faultblob.Wrap(memblob.OpenBucket(nil), faultblob.New(1))
	_, notFound := b.Attributes(context.Background(), "nope")
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("x: %w", pipeline.ErrCorrupt), false},
		{fmt.Errorf("x: %w", pipeline.ErrTooManyPixels), false},
		{fmt.Errorf("x: %w", pipeline.ErrTooExpensive), false},
		{fmt.Errorf("x: %w", pipeline.ErrTooLarge), false},
		{fmt.Errorf("x: %w", pipeline.ErrUnsupported), false},
		{fmt.Errorf("x: %w", pipeline.ErrSourceGone), false},
		{fmt.Errorf("x: %w", pipeline.ErrCollision), false},
		{notFound, false},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("read: %w", context.Canceled), true},
		{fmt.Errorf("x: %w", pipeline.ErrUnsafeKey), false},
		{errors.New("connection reset by peer"), true},
	}
	for _, tc := range tests {
		if got := pipeline.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestInjectedFaults fails each kind of storage call in turn: the error is
// retryable, nothing partial is left at a thumbnail key, and once the fault
// is gone a retry completes the work.
func TestInjectedFaults(t *testing.T) {
	ops := []faultblob.Op{faultblob.Attributes, faultblob.Read, faultblob.Write, faultblob.Close}
	for _, op := range ops {
		t.Run(string(op), func(t *testing.T) {
			ctx := context.Background()
			base := memblob.OpenBucket(nil)
			faults := faultblob.New(1)
			b := faultblob.Wrap(base, faults)
			src := pixeltest.JPEG(pixeltest.Photo(400, 300, 1), 90)
			if err := base.WriteAll(ctx, "f.jpg", src, nil); err != nil {
				t.Fatal(err)
			}
			th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			faults.Add(faultblob.Rule{Op: op, Times: 1})
			_, err = th.Process(ctx, b, "f.jpg")
			if err == nil || !pipeline.Retryable(err) || gcerrors.Code(err) != gcerrors.Internal {
				t.Fatalf("with a %s fault: %v (code %v); want a retryable Internal error", op, err, gcerrors.Code(err))
			}
			if pipelinetest.Exists(t, base, "thumbnails/200x200/f.jpg") {
				t.Fatalf("a %s fault left an object at the thumbnail key", op)
			}
			res, err := th.Process(ctx, b, "f.jpg")
			if err != nil || res.Written() != 1 {
				t.Fatalf("retry: %+v, %v", res, err)
			}
		})
	}
}

// TestUnsafeKeys checks that Process and Delete refuse keys that a backend
// could resolve outside the bucket, permanently and before any storage call
// (every call on the bucket would fail with an injected fault).
func TestUnsafeKeys(t *testing.T) {
	ctx := context.Background()
	faults := faultblob.New(1)
	for _, op := range []faultblob.Op{faultblob.Attributes, faultblob.Read, faultblob.Write, faultblob.Close,
		faultblob.List, faultblob.Delete} {
		faults.Add(faultblob.Rule{Op: op, Rate: 1})
	}
	b := faultblob.Wrap(memblob.OpenBucket(nil), faults)
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "../etc/passwd.jpg", "a/./b.jpg", "a/..", "a\x00b.jpg", "bad\xffutf8.jpg"} {
		_, perr := th.Process(ctx, b, key)
		_, derr := th.Delete(ctx, b, key)
		for op, err := range map[string]error{"Process": perr, "Delete": derr} {
			if !errors.Is(err, pipeline.ErrUnsafeKey) || pipeline.Retryable(err) {
				t.Errorf("%s(%q) = %v, want a permanent ErrUnsafeKey", op, key, err)
			}
		}
	}
	if n := faults.Injected(); n != 0 {
		t.Errorf("%d storage calls were made for unsafe keys", n)
	}
}

// TestLimitsBeforePixels feeds images whose headers declare 60000×60000
// pixels in a few hundred bytes: each is refused with ErrTooManyPixels and
// the heap barely grows, so no pixel buffer was ever allocated.
func TestLimitsBeforePixels(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"png", pixeltest.PNGBomb(60000, 60000)},
		{"gif", pixeltest.GIFBomb(60000, 60000)},
		{"jpeg", pixeltest.JPEGBomb(60000, 60000)},
	}
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.data) > 1000 {
				t.Fatalf("bomb is %d bytes; want a few hundred", len(tc.data))
			}
			key := "bomb." + tc.name
			if err := b.WriteAll(ctx, key, tc.data, nil); err != nil {
				t.Fatal(err)
			}
			peak := heapGrowth(func() { _, err = th.Process(ctx, b, key) })
			if !errors.Is(err, pipeline.ErrTooManyPixels) || pipeline.Retryable(err) {
				t.Fatalf("got %v; want a permanent ErrTooManyPixels", err)
			}
			if !strings.Contains(err.Error(), "60000x60000") || !strings.Contains(err.Error(), key) {
				t.Errorf("error %q should name the object and its dimensions", err)
			}
			if peak > 8<<20 {
				t.Errorf("heap grew %d bytes refusing a bomb; want under 8 MiB", peak)
			}
		})
	}
}

// heapGrowth runs fn and returns how far the total allocated bytes grew.
func heapGrowth(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestSizeLimit(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	cfg := pipeline.DefaultConfig()
	cfg.MaxBytes = 1000
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, data := range map[string][]byte{
		"big.jpg":   pixeltest.JPEG(pixeltest.Photo(200, 200, 1), 90),
		"empty.jpg": nil,
	} {
		if err := b.WriteAll(ctx, key, data, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := th.Process(ctx, b, "big.jpg"); !errors.Is(err, pipeline.ErrTooLarge) {
		t.Errorf("big: %v, want ErrTooLarge", err)
	}
	if _, err := th.Process(ctx, b, "empty.jpg"); !errors.Is(err, pipeline.ErrCorrupt) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v, want ErrCorrupt saying it is empty", err)
	}
	if _, err := th.Process(ctx, b, "gone.jpg"); !errors.Is(err, pipeline.ErrSourceGone) || pipeline.Retryable(err) {
		t.Errorf("gone: %v, want a permanent ErrSourceGone", err)
	}
}

func TestDryRun(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	if err := b.WriteAll(ctx, "x.jpg", pixeltest.JPEG(pixeltest.Photo(300, 300, 1), 90), nil); err != nil {
		t.Fatal(err)
	}
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := th.Plan(ctx, b, "x.jpg")
	if err != nil || res.Variants[0].Status != pipeline.WouldWrite || res.SourceBytes != 0 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if pipelinetest.Exists(t, b, res.Variants[0].Key) {
		t.Error("dry run wrote a thumbnail")
	}
}

func ExampleThumbnailer_Process() {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	_ = bucket.WriteAll(ctx, "uploads/cat.jpg", pixeltest.JPEG(pixeltest.Photo(640, 480, 1), 90), nil)

	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fill"}}
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := 0; i < 2; i++ {
		res, err := th.Process(ctx, bucket, "uploads/cat.jpg")
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, v := range res.Variants {
			fmt.Println(v.Key, v.Status)
		}
	}
	res, _ := th.Process(ctx, bucket, "thumbnails/200x200/uploads/cat.jpg")
	fmt.Println("skipped:", res.Skipped)
	// Output:
	// thumbnails/200x200/uploads/cat.jpg written
	// thumbnails/64x64/uploads/cat.jpg written
	// thumbnails/200x200/uploads/cat.jpg up-to-date
	// thumbnails/64x64/uploads/cat.jpg up-to-date
	// skipped: under the output prefix thumbnails/
}

func ExampleConfig_Validate() {
	cfg := pipeline.DefaultConfig()
	cfg.Include = []string{"**/*.jpg"}
	cfg.JPEGQuality = 0
	fmt.Println(cfg.Validate())
	// Output:
	// jpeg quality 0: want 1 to 100
	// include "**/*.jpg" matches thumbnails this config writes (e.g. "thumbnails/200x200/a.jpg"), so thumbnails would be thumbnailed: narrow it (e.g. uploads/**) or add exclude "thumbnails/**"
}

// TestSettingsMakeStale checks which setting changes rewrite which
// thumbnails: only those whose bytes or metadata the setting shapes.
func TestSettingsMakeStale(t *testing.T) {
	photo := pixeltest.Photo(300, 200, 7)
	tests := []struct {
		name string
		src  []byte
		edit func(c *pipeline.Config)
		want pipeline.Status
	}{
		{"nothing changed", pixeltest.JPEG(photo, 90), func(c *pipeline.Config) {}, pipeline.UpToDate},
		{"JPEG quality, JPEG thumbnail", pixeltest.JPEG(photo, 90), func(c *pipeline.Config) { c.JPEGQuality = 70 }, pipeline.Written},
		{"JPEG quality, PNG thumbnail", pixeltest.PNG(photo), func(c *pipeline.Config) { c.JPEGQuality = 70 }, pipeline.UpToDate},
		{"format jpeg, already JPEG", pixeltest.JPEG(photo, 90), func(c *pipeline.Config) { c.Format = "jpeg" }, pipeline.UpToDate},
		{"format jpeg, was PNG", pixeltest.PNG(photo), func(c *pipeline.Config) { c.Format = "jpeg" }, pipeline.Written},
		{"cache control", pixeltest.PNG(photo), func(c *pipeline.Config) { c.CacheControl = "max-age=60" }, pipeline.Written},
		{"colour policy keep", pixeltest.JPEG(photo, 90), func(c *pipeline.Config) { c.Color = pixels.ColorKeep }, pipeline.Written},
		{"colour policy unset is srgb", pixeltest.JPEG(photo, 90), func(c *pipeline.Config) { c.Color = "" }, pipeline.UpToDate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := memblob.OpenBucket(nil)
			if err := b.WriteAll(ctx, "src", tc.src, nil); err != nil {
				t.Fatal(err)
			}
			cfg := pipeline.DefaultConfig()
			for i, edit := range []func(c *pipeline.Config){func(*pipeline.Config) {}, tc.edit} {
				edit(&cfg)
				th, err := pipeline.NewThumbnailer(cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := th.Process(ctx, b, "src")
				if err != nil {
					t.Fatal(err)
				}
				want := pipeline.Written
				if i == 1 {
					want = tc.want
				}
				if got := res.Variants[0].Status; got != want {
					t.Fatalf("run %d: %s, want %s", i+1, got, want)
				}
			}
		})
	}
}
