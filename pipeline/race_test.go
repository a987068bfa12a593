//go:build race

package pipeline_test

// raceEnabled is set under the race detector, which makes inflating ~10×
// slower: the heavy tests shrink their images, keeping their assertions.
const raceEnabled = true
