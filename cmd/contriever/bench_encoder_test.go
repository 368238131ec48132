package main

import "testing"

func TestBenchEncoderPrecision(t *testing.T) {
	for _, p := range []string{"f32", "bf16", "int8"} {
		args := []string{"--config", "tiny", "--batch", "2", "--seq", "8", "--reps", "1", "--warmup", "0", "--precision", p, "--check"}
		if err := runBenchEncoder(args); err != nil {
			t.Fatalf("bench encoder --precision %s: %v", p, err)
		}
	}
	if err := runBenchEncoder([]string{"--config", "tiny", "--precision", "fp8"}); err == nil {
		t.Fatal("bench encoder --precision fp8: no error")
	}
}
