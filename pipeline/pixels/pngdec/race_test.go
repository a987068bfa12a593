//go:build race

package pngdec

// raceEnabled is set under the race detector, which makes inflating ~10×
// slower: the heavy tests shrink their images, keeping their assertions.
const raceEnabled = true
