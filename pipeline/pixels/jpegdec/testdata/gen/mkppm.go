// Command mkppm writes the deterministic synthetic source image used to
// make the JPEG fixtures: smooth gradients, hard edges and mild noise.
//
//	go run mkppm.go W H > out.ppm
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
)

func main() {
	w, _ := strconv.Atoi(os.Args[1])
	h, _ := strconv.Atoi(os.Args[2])
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fmt.Fprintf(out, "P6\n%d %d\n255\n", w, h)
	seed := uint32(12345)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			r := 40 + 180*fx
			g := 60 + 150*fy
			b := 128 + 90*math.Sin(6*fx+3*fy)
			// A disc and a bar with hard edges.
			if dx, dy := fx-0.6, fy-0.4; dx*dx+dy*dy < 0.05 {
				r, g, b = 230, 200-80*fy, 40
			}
			if x%97 < 9 {
				r, g, b = r*0.3, g*0.3, b*0.3
			}
			seed = seed*1664525 + 1013904223
			n := float64(int(seed>>24)%13 - 6)
			for _, v := range []float64{r + n, g + n, b + n} {
				out.WriteByte(byte(math.Max(0, math.Min(255, v))))
			}
		}
	}
}
