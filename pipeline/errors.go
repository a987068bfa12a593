package pipeline

import (
	"errors"
	"fmt"

	"gocloud.dev/gcerrors"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// Reasons an object is refused. Each is permanent: the same object fails the
// same way on every retry. Test for them with errors.Is.
var (
	// ErrTooLarge means the object has more bytes than Config.MaxBytes.
	ErrTooLarge = errors.New("object too large")
	// ErrTooManyPixels means the image declares more pixels than Config.MaxPixels.
	ErrTooManyPixels = errors.New("image has too many pixels")
	// ErrUnsupported means the bytes are not an image thumbpipe reads.
	ErrUnsupported = pixels.ErrUnsupported
	// ErrCorrupt means the bytes start like an image but do not decode.
	ErrCorrupt = pixels.ErrCorrupt
	// ErrSourceGone means the source object no longer exists.
	ErrSourceGone = errors.New("source object not found")
	// ErrCollision means a thumbnail's key already holds the thumbnail of
	// another source (see the key layout in the README).
	ErrCollision = errors.New("thumbnail key already holds another source's thumbnail")
	// ErrUnsafeKey means the key is not one to read or write (see [CheckKey]).
	ErrUnsafeKey = errors.New("unsafe object key")
)

// Error is the failure to process or delete one object. Its message names
// the object and the reason.
type Error struct {
	Op  string // "process" or "delete"
	Key string // the source key
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %q: %v", e.Op, e.Key, e.Err) }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

var permanent = []error{ErrTooLarge, ErrTooManyPixels, ErrUnsupported, ErrCorrupt, ErrSourceGone, ErrCollision, ErrUnsafeKey}

// Retryable reports whether err is worth retrying: storage errors that may
// pass (unavailable, timeouts, throttling, internal errors, denied access
// that an operator may fix) are; refused inputs and objects that are gone
// are not. It is the one place the doors ask; nil is not retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	for _, p := range permanent {
		if errors.Is(err, p) {
			return false
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound, gcerrors.InvalidArgument, gcerrors.FailedPrecondition, gcerrors.Unimplemented:
		return false
	}
	return true
}
