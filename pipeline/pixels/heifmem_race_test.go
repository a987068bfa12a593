//go:build race

package pixels_test

// heapSlack is how much more heap a decode takes in a race-detector build,
// whose allocations are larger: the estimate describes the build that
// ships, so the test allows for it.
const heapSlack = 1.35
