package pipeline

import (
	"errors"
	"fmt"
	"net/http"

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
	// ErrTooExpensive means decoding the image would need more memory
	// than Config.MaxDecodeMemory, by its header, or more work than the
	// decoder allows (a JPEG of more scans than jpegdec.DefaultMaxScans).
	ErrTooExpensive = pixels.ErrTooExpensive
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
	// ErrKeyTooLong means a thumbnail's key would be longer than
	// [MaxKeyBytes], which S3 and Cloud Storage refuse to store.
	ErrKeyTooLong = errors.New("thumbnail key too long")
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

var permanent = []error{ErrTooLarge, ErrTooManyPixels, ErrTooExpensive, ErrUnsupported, ErrCorrupt, ErrSourceGone, ErrCollision, ErrUnsafeKey, ErrKeyTooLong, ErrSourceChanging}

// Retryable reports whether err is worth retrying: storage errors that may
// pass (unavailable, timeouts, throttling, internal errors, denied access
// that an operator may fix) are; refused inputs, objects that are gone and
// requests the storage refused as bad (an HTTP 4xx other than 401, 403, 408,
// 409, 429 or a throttling code, such as S3's KeyTooLongError) are not, since
// sending them again gets the same answer. It is the one place the doors
// ask; nil is not retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	for _, p := range permanent {
		if errors.Is(err, p) {
			return false
		}
	}
	if status, ok := httpStatus(err); ok && status >= 400 && status < 500 {
		return tryLater(status, apiErrorCode(err))
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound, gcerrors.InvalidArgument, gcerrors.FailedPrecondition, gcerrors.Unimplemented:
		return false
	}
	return true
}

// The storage SDKs' errors carry the HTTP answer behind small interfaces, so
// the core reads it without importing them (see deps.allow).
type (
	// statusCoder is smithy-go's response error (the AWS SDK's S3 client).
	statusCoder interface{ HTTPStatusCode() int }
	// httpCoder is gax-go's apierror.APIError (the Cloud Storage client).
	httpCoder interface{ HTTPCode() int }
	// errorCoder is smithy-go's APIError: the S3 error code ("SlowDown").
	errorCoder interface{ ErrorCode() string }
)

// httpStatus returns the HTTP status of the storage's answer that err
// carries, if it carries one.
func httpStatus(err error) (int, bool) {
	var sc statusCoder
	if errors.As(err, &sc) && sc.HTTPStatusCode() > 0 {
		return sc.HTTPStatusCode(), true
	}
	var hc httpCoder
	if errors.As(err, &hc) && hc.HTTPCode() > 0 {
		return hc.HTTPCode(), true
	}
	return 0, false
}

// apiErrorCode returns the storage's error code that err carries, or "".
func apiErrorCode(err error) string {
	var ec errorCoder
	if errors.As(err, &ec) {
		return ec.ErrorCode()
	}
	return ""
}

// tryLater reports whether a 4xx answer means "the same request may succeed
// later": credentials or access an operator may fix (401, 403), a timeout
// (408, S3's 400 RequestTimeout), a conflicting operation in progress (409,
// S3's OperationAborted) or throttling (429, and the 400s AWS throttles with).
func tryLater(status int, code string) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	switch code {
	case "RequestTimeout", "RequestTimeoutException", "Throttling", "ThrottlingException", "ThrottledException",
		"RequestThrottled", "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
		"BandwidthLimitExceeded", "SlowDown", "ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired":
		return true
	}
	return false
}
