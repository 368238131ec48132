//go:build race

package engine

// raceEnabled: the race detector is on (the fault suite then runs a
// sample of its cases).
const raceEnabled = true
