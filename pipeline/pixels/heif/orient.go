package heif

// An orientation is one of the eight ways to lay a rectangle on its own
// outline, numbered as EXIF numbers them: the transform that turns the
// stored image upright. Each is written as the matrix it applies to
// pixel coordinates (x right, y down, about the centre).
type mat2 [4]int8

// exif holds the transform of each EXIF orientation, index 1 to 8: 2
// flips left to right, 3 turns half round, 4 flips top to bottom, 5
// transposes, 6 turns a quarter clockwise, 7 transverses, 8 turns a
// quarter anticlockwise.
var exif = [9]mat2{
	1: {1, 0, 0, 1},
	2: {-1, 0, 0, 1},
	3: {-1, 0, 0, -1},
	4: {1, 0, 0, -1},
	5: {0, 1, 1, 0},
	6: {0, -1, 1, 0},
	7: {0, -1, -1, 0},
	8: {0, 1, -1, 0},
}

func (m mat2) mul(n mat2) mat2 {
	return mat2{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
	}
}

func orientation(m mat2) int {
	for o := 1; o <= 8; o++ {
		if exif[o] == m {
			return o
		}
	}
	return 1
}

// rotation is the orientation of an irot property: angle quarter turns
// anticlockwise.
func rotation(angle int) int {
	return [4]int{1, 8, 3, 6}[angle&3]
}

// mirror is the orientation of an imir property: axis 0 mirrors about the
// vertical axis (left and right swap), 1 about the horizontal axis.
func mirror(axis int) int {
	if axis == 0 {
		return 2
	}
	return 4
}

// compose returns the orientation of applying first, then then.
func compose(first, then int) int {
	return orientation(exif[then].mul(exif[first]))
}

// Transforms returns the irot angle and the imir axis (-1 for none) which,
// written in that order, make an item's Orientation read o: what a writer
// stores for an image that EXIF orientation o turns upright.
func Transforms(o int) (irot, imir int) {
	for a := range 4 {
		if rotation(a) == o {
			return a, -1
		}
		for axis := range 2 {
			if compose(rotation(a), mirror(axis)) == o {
				return a, axis
			}
		}
	}
	return 0, -1
}
