//go:build !race

package tiffdec

const raceEnabled = false
