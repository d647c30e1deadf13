"""SampleAssembler: blocks placed by index; gaps, duplicates, reordering and conflicts reported."""

import numpy as np

from firmware_interface.assembly import Gap, SampleAssembler


def test_in_order_blocks_assemble_exactly():
    assembler = SampleAssembler(6)
    assembler.add(0, np.array([1, 2, 3], dtype=np.int16))
    assembler.add(3, np.array([4, 5, 6], dtype=np.int16))
    pcm, gaps = assembler.assemble(6, fill_value=0, dtype=np.int16)
    assert pcm.tolist() == [1, 2, 3, 4, 5, 6] and gaps == ()


def test_missing_middle_and_tail_are_gaps_not_silence():
    assembler = SampleAssembler(10)
    assembler.add(0, np.array([1, 2], dtype=np.int16))
    assembler.add(5, np.array([6, 7], dtype=np.int16))
    pcm, gaps = assembler.assemble(10, fill_value=0, dtype=np.int16)
    assert gaps == (Gap(2, 3), Gap(7, 3))
    assert pcm[:2].tolist() == [1, 2] and pcm[5:7].tolist() == [6, 7]


def test_reordered_blocks_are_resequenced_and_counted():
    assembler = SampleAssembler(4)
    assembler.add(2, np.array([3, 4], dtype=np.int16))
    assembler.add(0, np.array([1, 2], dtype=np.int16))
    pcm, gaps = assembler.assemble(4, fill_value=0, dtype=np.int16)
    assert pcm.tolist() == [1, 2, 3, 4] and gaps == ()
    assert assembler.reordered == 1


def test_duplicate_is_dropped_and_conflicts_are_refused():
    assembler = SampleAssembler(4)
    assembler.add(0, np.array([1, 2], dtype=np.int16))
    assembler.add(0, np.array([1, 2], dtype=np.int16))
    assembler.add(0, np.array([9, 9], dtype=np.int16))  # same index, other data
    assembler.add(1, np.array([7, 7], dtype=np.int16))  # overlaps stored samples
    assembler.add(3, np.array([7, 7], dtype=np.int16))  # runs past the capacity
    assert (assembler.duplicates, assembler.conflicts) == (1, 3)
    pcm, gaps = assembler.assemble(4, fill_value=0, dtype=np.int16)
    assert pcm[:2].tolist() == [1, 2] and gaps == (Gap(2, 2),)


def test_two_dimensional_rows_fill_with_nan():
    assembler = SampleAssembler(3)
    assembler.add(1, np.array([[1.0, 2.0]]))
    table, gaps = assembler.assemble(3, fill_value=np.nan, dtype=np.float64, row_shape=(2,))
    assert gaps == (Gap(0, 1), Gap(2, 1))
    assert np.isnan(table[0]).all() and table[1].tolist() == [1.0, 2.0]
