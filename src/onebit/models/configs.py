"""The zoo's default config table, as timm's ``default_cfgs``: one record per registered model.

Each record holds what the entry builds by default (input shape, class count), its reference
parameter count with what that count counts, the paper and code the entry follows, and a one-line
description (``onebit models`` prints it). The entry points in the architecture modules only set
their architecture's arguments; their defaults for the input and the classes come from here, and
the tests check every reference count against the model the entry builds.

Reference counts are not all counted alike, and the table says which way each is:

* ``parameters()``: ``sum(p.numel() for p in model.parameters())``, as PyTorch code counts;
* ``keras``: that plus every batch norm's moving mean and variance, which Keras counts as
  non-trainable weights (``model.count_params()``);
* ``larq summary``: Larq's ``summary``, which counts every batch norm as 2 per channel (it folds
  the scale and shift into the statistics), with or without a learned scale and shift.

``onebit models --markdown`` prints the README's zoo table from this one.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

COUNTINGS = {
    "parameters()": "PyTorch's count, sum(p.numel() for p in model.parameters())",
    "keras": "Keras' count: parameters() plus every batch norm's moving mean and variance",
    "larq summary": "Larq's summary: batch norms as 2 per channel, the other weights as in torch",
}

OUTPUTS = ("classes", "landmarks")


@dataclass(frozen=True)
class ModelConfig:
    """A zoo entry's defaults and reference figures.

    Args:
        name: the registry name.
        description: one plain-text line, as ``onebit models`` prints it.
        paper: the paper the architecture comes from.
        code: the code whose layer layout the entry follows.
        input_shape: the default shape of one input, ``(C, H, W)`` with ``H == W`` for images.
        num_classes: the default number of classes.
        reference_parameters: the parameter count the reference gives at these defaults.
        counting: how ``reference_parameters`` counts, a key of ``COUNTINGS``.
        reference: where ``reference_parameters`` comes from.
        outputs: what ``num_classes`` counts: "classes" (logits), or "landmarks" (heatmaps).
        vocab_size: the default vocabulary of a text model (its ``input_shape`` is
            ``(seq_len,)`` token ids); None for the others.
    """

    name: str
    description: str
    paper: str
    code: str
    input_shape: tuple[int, ...]
    num_classes: int
    reference_parameters: int
    counting: str
    reference: str
    outputs: str = "classes"
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        if self.counting not in COUNTINGS:
            raise ValueError(f"{self.name}: counting must be one of {sorted(COUNTINGS)}")
        if self.outputs not in OUTPUTS:
            raise ValueError(f"{self.name}: outputs must be one of {OUTPUTS}")

    @property
    def output_count(self) -> str:
        """What the model outputs, e.g. "10 classes" or "68 landmarks"."""
        return f"{self.num_classes} {self.outputs}"

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    @property
    def input_size(self) -> int:
        """The side of the default square image."""
        return self.input_shape[-1]


def count_parameters(model: nn.Module, counting: str) -> int:
    """``model``'s parameter count as ``counting`` (a key of ``COUNTINGS``) counts it."""
    if counting not in COUNTINGS:
        raise ValueError(f"counting must be one of {sorted(COUNTINGS)}, got {counting!r}")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    total = sum(p.numel() for p in model.parameters())
    if counting == "keras":
        total += sum(2 * m.num_features for m in norms if m.running_mean is not None)
    elif counting == "larq summary":
        in_norms = {id(p) for m in norms for p in m.parameters()}
        total = sum(p.numel() for p in model.parameters() if id(p) not in in_norms)
        total += sum(2 * m.num_features for m in norms)
    return total


_BNN = "Courbariaux, Hubara et al., Binarized Neural Networks, 2016"
_BINARYNET_PYTORCH = "BinaryNet.pytorch (itayhubara), models/resnet_binary.py"
_RESNET = "He et al. 2016 (ResNet), binarized as in " + _BNN
_QUICKNET = "Bannink et al., Larq Compute Engine, MLSys 2021"
_IMAGENET = (3, 224, 224)


def _resnet(depth: int, count: int, torchvision: str) -> ModelConfig:
    return ModelConfig(
        name=f"binary-resnet{depth}",
        description=f"BinaryNet.pytorch's binary ImageNet ResNet-{depth}.",
        paper=_RESNET,
        code=_BINARYNET_PYTORCH,
        input_shape=_IMAGENET,
        num_classes=1000,
        reference_parameters=count,
        counting="parameters()",
        reference=f"torchvision's resnet{depth} ({torchvision}) plus the head's two BatchNorm1d",
    )


def _quicknet(name: str, larq_name: str, count: int, top1: str) -> ModelConfig:
    return ModelConfig(
        name=name,
        description=f"Larq zoo's {larq_name}: a ResNet-like BNN designed for fast inference.",
        paper=_QUICKNET,
        code=f"Larq zoo, larq_zoo/sota/quicknet.py ({larq_name}Factory)",
        input_shape=_IMAGENET,
        num_classes=1000,
        reference_parameters=count,
        counting="larq summary",
        reference=f"Larq zoo, the ImageNet table of the {larq_name} docstring{top1}",
    )


CONFIGS: dict[str, ModelConfig] = {
    config.name: config
    for config in (
        ModelConfig(
            name="binarynet-mlp",
            description="The BNN paper's MNIST MLP: binary weights and activations, batch norm.",
            paper=_BNN + ", sec. 2.5 (4096 hidden units; 1024 here)",
            code="this layout: Flatten, then [Linear, BatchNorm, sign] per hidden layer",
            input_shape=(1, 28, 28),
            num_classes=10,
            reference_parameters=2_916_372,
            counting="parameters()",
            reference="counted from the layout: 784-1024-1024-1024-10 weights, 2 per BN unit",
        ),
        ModelConfig(
            name="float-mlp",
            description="The full-precision twin of binarynet-mlp: float weights and ReLU.",
            paper=_BNN,
            code="the binarynet-mlp layout with float layers",
            input_shape=(1, 28, 28),
            num_classes=10,
            reference_parameters=2_916_372,
            counting="parameters()",
            reference="the binarynet-mlp count: the same layers",
        ),
        ModelConfig(
            name="mcu-bnn",
            description="A binary CNN for microcontrollers: three conv-BN-pool stages, ~13 KB "
            "packed.",
            paper=_BNN + " (binary layers); onebit's own layout",
            code="this layout: [3x3 conv, BatchNorm, 2x2 max-pool] x 3 (32, 64, 128), dense",
            input_shape=(1, 28, 28),
            num_classes=10,
            reference_parameters=104_436,
            counting="parameters()",
            reference="counted from the layout: 288 + 18,432 + 73,728 conv and 11,520 dense "
            "weights, 2 per BN unit",
        ),
        ModelConfig(
            name="kws-bnn",
            description="A binary CNN keyword spotter for microcontrollers: log-mel in, ~31 KB "
            "packed.",
            paper='Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers", 2017 (task '
            "and 40x49 log-mel input); " + _BNN + " (binary layers)",
            code="this layout: [3x3 conv, BatchNorm, 2x2 max-pool] x 4 (32, 64, 128, 128), dense",
            input_shape=(1, 40, 49),
            num_classes=10,
            reference_parameters=248_308,
            counting="parameters()",
            reference="counted from the layout: 288 + 18,432 + 73,728 + 147,456 conv and 7,680 "
            "dense weights, 2 per BN unit",
        ),
        ModelConfig(
            name="bitmixer-mlp",
            description="Bit-Mixer MLP: each layer runs at 2, 3 or 4 bits, chosen at run time.",
            paper='Bulat & Tzimiropoulos, "Bit-Mixer: Mixed-precision networks with runtime '
            'bit-width selection", ICCV 2021',
            code="this layout: Flatten, then [Linear, TransitionalBatchNorm] x 3 (512 hidden)",
            input_shape=(1, 28, 28),
            num_classes=10,
            reference_parameters=687_173,
            counting="parameters()",
            reference="counted from the layout: 784-512-512-10 weights, 2 per BN unit for each "
            "of the 9 (3 last) width transitions, one step per weight quantizer and one per "
            "width per activation quantizer",
        ),
        ModelConfig(
            name="binarynet-vgg",
            description="The BNN paper's CIFAR-10 ConvNet: six binary 3x3 convs, three dense "
            "layers.",
            paper=_BNN + ", Table 1",
            code="MatthieuCourbariaux/BinaryNet, Train-time/cifar10.py",
            input_shape=(3, 32, 32),
            num_classes=10,
            reference_parameters=14_033_566,
            counting="parameters()",
            reference="counted from the authors' layers (the paper gives none): "
            "14,022,016 weights, 3,850 biases, 7,700 batch norm scales and shifts",
        ),
        ModelConfig(
            name="binary-alexnet",
            description="Larq zoo's BinaryAlexNet: the BNN paper's AlexNet, every weight binary.",
            paper=_BNN,
            code="Larq zoo, larq_zoo/literature/binary_alex_net.py",
            input_shape=_IMAGENET,
            num_classes=1000,
            reference_parameters=61_859_192,
            counting="keras",
            reference="Larq zoo, the ImageNet table of BinaryAlexNet (36.30% top-1)",
        ),
        ModelConfig(
            name="xnornet-alexnet",
            description="XNOR-Net as in Larq zoo: batch norm, sign, binary conv scaled per "
            "channel.",
            paper="Rastegari, Ordonez, Redmon, Farhadi, XNOR-Net, ECCV 2016",
            code="Larq zoo, larq_zoo/literature/xnornet.py",
            input_shape=_IMAGENET,
            num_classes=1000,
            reference_parameters=62_396_768,
            counting="keras",
            reference="Larq zoo, the ImageNet table of XNORNet (44.96% top-1)",
        ),
        _resnet(18, 11_692_536, "11,689,512"),
        _resnet(34, 21_800_696, "21,797,672"),
        _resnet(50, 25_563_128, "25,557,032"),
        ModelConfig(
            name="binary-vgg16",
            description="VGG-16 (configuration D) binarized in BinaryNet.pytorch's VGG pattern.",
            paper="Simonyan and Zisserman, ICLR 2015, binarized as in " + _BNN,
            code="BinaryNet.pytorch (itayhubara), models/vgg_cifar10_binary.py, at VGG-16 depth",
            input_shape=_IMAGENET,
            num_classes=1000,
            reference_parameters=138_382_376,
            counting="parameters()",
            reference="torchvision's vgg16_bn (138,365,992) plus the batch norms of the two "
            "hidden dense layers",
        ),
        ModelConfig(
            name="birealnet18",
            description="Bi-Real Net-18: a real shortcut around every binary 3x3 conv, as in "
            "Larq zoo.",
            paper="Liu, Wu, Luo, Yang, Liu, Cheng, Bi-Real Net, ECCV 2018",
            code="Larq zoo, larq_zoo/literature/birealnet.py",
            input_shape=_IMAGENET,
            num_classes=1000,
            reference_parameters=11_699_112,
            counting="keras",
            reference="Larq zoo, the ImageNet table of BiRealNet (57.47% top-1)",
        ),
        ModelConfig(
            name="birealnet34",
            description="Bi-Real Net-34 as the authors' PyTorch code builds it.",
            paper="Liu, Wu, Luo, Yang, Liu, Cheng, Bi-Real Net, ECCV 2018",
            code="liuzechun/Bi-Real-net, pytorch_implementation/BiReal18_34/birealnet.py",
            input_shape=_IMAGENET,
            num_classes=1000,
            reference_parameters=21_797_672,
            counting="parameters()",
            reference="the official model's parameters() (the paper: 62.2% top-1)",
        ),
        ModelConfig(
            name="reactnet-a",
            description="ReActNet-A: a binary MobileNetV1 with RSign and RPReLU.",
            paper="Liu, Shen, Savvides, Cheng, ReActNet, ECCV 2020",
            code="liuzechun/ReActNet, mobilenet/2_step2/reactnet.py",
            input_shape=_IMAGENET,
            num_classes=1000,
            reference_parameters=29_343_592,
            counting="parameters()",
            reference="the official model's parameters() (the paper: 69.4% top-1)",
        ),
        ModelConfig(
            name="reactnet-mini",
            description="A small ReActNet-style CNN for 28x28 images: RSign, binary 3x3, RPReLU.",
            paper="Liu, Shen, Savvides, Cheng, ReActNet, ECCV 2020 (RSign, RPReLU); onebit's "
            "own small layout",
            code="this layout: 3x3/2 stem, 3 blocks [RSign, binary 3x3, BN, shortcut, RPReLU] "
            "(32, 64, 64), flatten, FC",
            input_shape=(1, 28, 28),
            num_classes=10,
            reference_parameters=97_162,
            counting="parameters()",
            reference="counted from the layout: 64,512 binary conv weights, 288 stem and 31,370 "
            "FC weights, 2 per BN unit, 1 per RSign and 3 per RPReLU channel",
        ),
        ModelConfig(
            name="dybnn-mini",
            description="The reactnet-mini layout with DyBNN's dynamic sign and PReLU.",
            paper="Zhang, Su, Feng, Lu, Pietikäinen, Liu, Dynamic Binary Neural Network by "
            "learning channel-wise thresholds, ICASSP 2022",
            code="reactnet-mini's layout with DySign and DyPReLU (hyper function: pool, FC, "
            "ReLU, FC)",
            input_shape=(1, 28, 28),
            num_classes=10,
            reference_parameters=107_218,
            counting="parameters()",
            reference="counted from the layout: reactnet-mini's convs, BN, FC and PReLU slopes, "
            "and 10,504 in the hyper functions (r = 4, at least 8 hidden units)",
        ),
        ModelConfig(
            name="landmark-hourglass",
            description="A binary hourglass of hierarchical blocks: one heatmap per landmark.",
            paper="Bulat, Tzimiropoulos, Binarized Convolutional Landmark Localizers for Human "
            "Pose Estimation and Face Alignment with Limited Resources, ICCV 2017",
            code="1adrianb/face-alignment face_alignment/models.py (FAN with one hourglass), "
            "its ConvBlock binarized",
            input_shape=(3, 256, 256),
            num_classes=68,
            reference_parameters=6_249_348,
            counting="parameters()",
            reference="counted from the layout: 17 hierarchical blocks of 256 (406,400 each: "
            "3x3 convs 256-128-64-64, 3 BN), the stem's 7x7 conv, BN and blocks 64-128, "
            "128-128 and 128-256 (with BN and 1x1 shortcuts), the head's 1x1 convs and BN",
            outputs="landmarks",
        ),
        ModelConfig(
            name="text-cnn",
            description="A binary text CNN: binary embeddings, binary 1-D convs, mean over time.",
            paper="Kim, Convolutional Neural Networks for Sentence Classification, EMNLP 2014, "
            "binarized as in " + _BNN,
            code="this layout: binary embedding (64 bits), [conv1d k3, BatchNorm1d] x 2 (128), "
            "mean over time, dense",
            input_shape=(16,),
            num_classes=19,
            vocab_size=8000,
            reference_parameters=588_710,
            counting="parameters()",
            reference="counted from the layout: 512,000 embedding bits, 24,576 + 49,152 conv "
            "and 2,432 dense weights, 2 per BN unit (debian-packages: 19 classes)",
        ),
        ModelConfig(
            name="bats",
            description="A binary network of searched BATS cells (default: onebit's mnist5k "
            "search).",
            paper="Bulat, Martinez, Tzimiropoulos, BATS: Binary ArchitecTure Search, ECCV 2020",
            code="1adrianb/binary-networks-pytorch bnn/models/bats.py (BATSNetworkCIFAR, without "
            "the auxiliary head)",
            input_shape=(1, 28, 28),
            num_classes=10,
            reference_parameters=384_186,
            counting="parameters()",
            reference="counted from the layout with the shipped genotype (models/genotypes/"
            "bats-mnist5k.json): 375,040 binary conv weights, 432 stem and 2,570 FC weights, 2 "
            "per BN unit (4,544), 1 per PReLU channel (1,600)",
        ),
        _quicknet("quicknet-small", "QuickNetSmall", 12_655_688, " (59.4% top-1)"),
        _quicknet("quicknet", "QuickNet", 13_234_088, " (63.3% top-1)"),
        _quicknet("quicknet-large", "QuickNetLarge", 23_342_248, ""),
    )
}


def markdown_table() -> str:
    """The README's zoo table: each entry's counts at its defaults (built on the meta device),
    then what each way of counting counts."""
    import torch

    from onebit import models

    rows = [
        "| model | default input | follows | `parameters()` | reference count | counted as "
        "| reference |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for name, config in CONFIGS.items():
        with torch.device("meta"):
            model = models.create(name)
        torch_count = count_parameters(model, "parameters()")
        shape = "x".join(map(str, config.input_shape))
        if config.vocab_size is not None:
            shape = f"{shape} token ids of {config.vocab_size:,}"
        rows.append(
            f"| `{name}` | {shape}, {config.output_count} | {config.code} "
            f"| {torch_count:,} | {config.reference_parameters:,} | {config.counting} "
            f"| {config.reference} |"
        )
    rows.append("")
    rows += [f"- {counting}: {meaning}." for counting, meaning in COUNTINGS.items()]
    return "\n".join(rows) + "\n"
