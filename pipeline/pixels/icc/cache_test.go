package icc

import (
	"errors"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	c := NewCache(2)
	p3, rec := matrixProfile(displayP3), matrixProfile(rec2020)
	a, err := c.Transform(p3)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Transform(append([]byte(nil), p3...)); b != a {
		t.Error("the same profile bytes gave a second transform")
	}
	if _, err := c.Transform(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transform(p3); err != nil { // p3 is now the most recent
		t.Fatal(err)
	}
	if _, err := c.Transform(matrixProfile(proPhoto)); err != nil { // evicts rec2020
		t.Fatal(err)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if b, _ := c.Transform(p3); b != a {
		t.Error("the most recently used profile was evicted")
	}
	if _, err := c.Transform(p3[:200]); !errors.Is(err, ErrInvalid) {
		t.Errorf("truncated profile: %v, want ErrInvalid", err)
	}
	if c.Len() != 2 {
		t.Errorf("an error was cached: Len = %d", c.Len())
	}
	if _, err := c.Transform(make([]byte, MaxSize+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized profile: %v, want ErrInvalid", err)
	}
}

// TestCacheConcurrent: concurrent callers of one profile all get one
// transform, and concurrent Apply calls share its tables (run with -race).
func TestCacheConcurrent(t *testing.T) {
	c := NewCache(4)
	data := mft1RGB()
	first, err := c.Transform(data)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			tr, err := c.Transform(data)
			if err != nil {
				t.Error(err)
				return
			}
			if tr != first {
				t.Error("a concurrent caller got another transform")
			}
			if _, err := tr.Apply(thumbnail(RGB)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
