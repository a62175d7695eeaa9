"""``cv2_imshow`` as in Colab: show a BGR(A) image array inline."""


def cv2_imshow(a):
    import numpy as np
    from IPython.display import display
    from PIL import Image

    a = np.asarray(a).clip(0, 255).astype("uint8")
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., [2, 1, 0, 3]]
    elif a.ndim == 3 and a.shape[2] == 3:
        a = a[..., ::-1]
    display(Image.fromarray(a))
