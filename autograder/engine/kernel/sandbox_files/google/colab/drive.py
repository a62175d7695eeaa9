"""``drive.mount`` does nothing during grading and says where the data is."""


def mount(mountpoint="/content/drive", force_remount=False, timeout_ms=120000,
          readonly=False):
    from google.colab import NOTICE

    print(NOTICE)


def flush_and_unmount(timeout_ms=86400000):
    return None
