//go:build !race

package pixels_test

// heapSlack is 1 in the build that ships: the estimate must cover the
// measured peak.
const heapSlack = 1.0
