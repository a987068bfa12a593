//go:build !race

package main

// raceEnabled says the race detector is on: tests that measure shrink.
const raceEnabled = false
