"""``ildscreen device``: run a simulated sensor board, query and capture from real ones.

A thin layer over :mod:`firmware_interface`: each command opens the library object,
calls one function and turns domain errors into one-line ``click.ClickException``s.
"""

import json
import pathlib
import signal
import threading

import click

# firmware_interface (numpy, the serial port) is imported by the commands that talk to a board, so that
# 'ildscreen --help' and the other commands start without it.


def _device_errors() -> tuple:
    from firmware_interface import DeviceError

    return (DeviceError, ValueError, OSError)


@click.group()
def device() -> None:
    """Sensor boards: the digital stethoscope and the e-nose."""


@device.command()
@click.option("--kind", type=click.Choice(["stethoscope", "enose"]), required=True, help="Board to simulate.")
@click.option("--wav", "wav_path", type=click.Path(exists=True, dir_okay=False), help="Mono 16-bit WAV a stethoscope streams (default: synthetic lung sound).")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True, help="Length of the synthetic sound, or where to cut the WAV.")
@click.option("--rate", type=click.IntRange(min=1), help="Sample rate of synthetic audio (4000) or e-nose samples (10).")
@click.option("--sensors", type=click.IntRange(1, 32), default=8, show_default=True, help="MOX sensors of a simulated e-nose.")
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True, help="1 streams in real time; 0 as fast as the host reads.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic signals.")
@click.option("--run-for", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds (default: until Ctrl-C).")
def simulate(kind, wav_path, seconds, rate, sensors, speed, seed, run_for) -> None:
    """Start a simulated board on a pseudo-terminal and print the port to connect to."""
    try:
        sim = _build_simulator(kind, wav_path, seconds, rate, sensors, speed or None, seed)
        sim.start()
    except _device_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Simulated {kind} {sim.info.device_id} on {sim.port}")
    click.echo(f"pty: {sim.pty_path}; stop with Ctrl-C", err=True)
    # SIGTERM (systemd, a supervising test) stops as cleanly as Ctrl-C: pty closed, port removed.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        threading.Event().wait(run_for)
    except KeyboardInterrupt:
        click.echo("stopping", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.close()


def _build_simulator(kind, wav_path, seconds, rate, sensors, speed, seed):
    from firmware_interface import DeviceKind, SimulatedDevice
    from firmware_interface.synthesis import lung_sound
    from firmware_interface.wav import read_wav_pcm

    if kind == "enose":
        if wav_path:
            raise click.UsageError("--wav only applies to --kind stethoscope")
        return SimulatedDevice(DeviceKind.ENOSE, sample_rate_hz=rate or 10, n_sensors=sensors, speed=speed, seed=seed)
    if wav_path:
        pcm, wav_rate = read_wav_pcm(wav_path)
        if rate and rate != wav_rate:
            raise click.UsageError(f"--rate {rate} differs from the WAV's {wav_rate} Hz; the simulator does not resample")
        pcm, rate = pcm[: int(round(seconds * wav_rate))], wav_rate
    else:
        rate = rate or 4000
        pcm = lung_sound(seconds, sample_rate_hz=rate, seed=seed)
    return SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=rate, speed=speed, seed=seed)


_connect_timeout = click.option(
    "--connect-timeout", type=click.FloatRange(min=0), default=5.0, show_default=True,
    help="Seconds to keep retrying to open the port (exponential backoff).",
)


@device.command()
@click.argument("port")
@_connect_timeout
def info(port, connect_timeout) -> None:
    """Handshake with the board on PORT and print its INFO as JSON."""
    board = _open(port, connect_timeout)
    try:
        click.echo(json.dumps({"port": port, **board.info.to_dict()}, indent=2))
    finally:
        board.close()


@device.command()
@click.argument("port")
@_connect_timeout
def status(port, connect_timeout) -> None:
    """Print the board's battery, state and faults as JSON."""
    from firmware_interface import DeviceError

    board = _open(port, connect_timeout)
    try:
        click.echo(json.dumps({"port": port, **board.status().to_dict()}, indent=2))
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        board.close()


@device.command()
@click.argument("port")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True, help="WAV (stethoscope) or CSV (e-nose) to write; metadata goes to OUT.json.")
@click.option("--seconds", type=float, default=20.0, show_default=True, help="Stethoscope recording length.")
@click.option("--baseline", type=float, default=15.0, show_default=True, help="E-nose baseline seconds (the breath model needs at least 10).")
@click.option("--exposure", type=float, default=20.0, show_default=True, help="E-nose breath exposure seconds.")
@click.option("--purge", type=float, default=30.0, show_default=True, help="E-nose purge seconds.")
@click.option("--allow-gaps", is_flag=True, help="Keep a recording with reported gaps instead of failing.")
@_connect_timeout
def capture(port, out, seconds, baseline, exposure, purge, allow_gaps, connect_timeout) -> None:
    """Record from the board on PORT into OUT, with a metadata JSON next to it."""
    from edge.devices import enose_reading_csv
    from edge.errors import IldscreenError
    from firmware_interface import DeviceKind, capture_audio, capture_enose

    board = _open(port, connect_timeout)
    try:
        if board.info.device_kind == DeviceKind.STETHOSCOPE:
            result = capture_audio(board, seconds=seconds, allow_gaps=allow_gaps)
            data = result.to_wav_bytes()
        else:
            result = capture_enose(board, baseline_s=baseline, exposure_s=exposure, purge_s=purge, allow_gaps=allow_gaps)
            # The breath-reading CSV the service stores from a board: `breath score` and the tablet's
            # breath upload read it (the board's own table, resistances by sensor name, they cannot). A
            # capture kept with gaps (--allow-gaps) has samples of no phase, which no breath reading
            # holds: it is written as the board's table, for inspection.
            data = (enose_reading_csv(result) if result.complete else result.to_board_csv()).encode("utf-8")
        pathlib.Path(out).write_bytes(data)
        pathlib.Path(out + ".json").write_text(json.dumps(result.metadata(), indent=2))
    except (*_device_errors(), IldscreenError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        board.close()
    if result.complete:
        click.echo(f"wrote {out} (complete)")
    elif board.info.device_kind == DeviceKind.STETHOSCOPE:
        click.echo(f"wrote {out} (WITH GAPS)")
    else:
        click.echo(f"wrote {out} (WITH GAPS: the board's own table, not a breath reading 'breath score' takes)")


def _open(port, connect_timeout):
    from firmware_interface import DeviceError, open_device

    try:
        return open_device(port, connect_timeout=connect_timeout)
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from exc
