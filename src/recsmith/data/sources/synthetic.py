"""Synthetic fashion-retail data in the H&M ("H&M Personalized Fashion Recommendations") schema.

:func:`generate_hm` draws three tables with the Kaggle files' columns and value styles
(``articles``, ``customers``, ``transactions``) from a small generative model with structure that
recommenders can learn:

* **Tastes.** The catalogue is organised in a fixed set of *styles* (everyday basics, tailoring,
  denim street, sport, lingerie, kids, ...). A style owns departments (and through them index,
  section and garment group), product types, a colour palette, graphical appearances and a
  vocabulary for names and descriptions, so an article's attributes and text reveal its style.
  Each customer has a sparse Dirichlet mixture over styles; each purchase first picks a style from
  that mixture (sticky within a shopping day, with some random "impulse" purchases), then an
  article of that style.
* **Long tail.** Within a style, product popularity is Zipf-like; colour variants of one product
  (articles sharing ``product_code``) split its popularity unevenly.
* **Trends.** Each article's popularity drifts log-linearly over the period; some products launch
  during the period (and get a launch boost that decays); styles are seasonal (swimwear peaks in
  summer, knitwear in winter). Newer products have larger product codes, as at H&M.
* **Repeats and baskets.** Customers re-buy some earlier items (a per-customer rate, higher for
  basics, socks and baby wear), buy several items on one day and sometimes a second colour of the
  same product. Other than that, chance draws of an article the customer already bought are
  redrawn, so repeats are mostly a deliberate, controllable signal (``repeat_rate``).
* **Demographics.** Age follows the customer's main style; customers of the young styles are more
  often ``PRE-CREATE`` club members and buy online (``sales_channel_id`` 2) more; the fashion-news
  subscription (``FN``, ``Active``) grows with age and activity.

Everything is vectorised numpy; the default size draws in well under a second. The same seed gives
identical frames. :func:`read_synthetic` (source name ``"synthetic"``) converts the tables to
:class:`~recsmith.data.sources.base.RawData`; :func:`write_hm_csv` writes them as the Kaggle CSV
files ``articles.csv``, ``customers.csv`` and ``transactions_train.csv``.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.schema import Columns
from recsmith.data.sources.base import RawData, register_source
from recsmith.errors import ConfigError

__all__ = [
    "ARTICLE_COLUMNS",
    "CUSTOMER_COLUMNS",
    "HM_FILES",
    "TRANSACTION_COLUMNS",
    "STYLE_NAMES",
    "SyntheticHM",
    "SyntheticParamError",
    "generate_hm",
    "read_synthetic",
    "to_raw_data",
    "write_hm_csv",
]

# ------------------------------------------------------------------------------------------------
# schema of the Kaggle files (column order as in the competition's CSVs)

ARTICLE_COLUMNS: dict[str, pl.DataType] = {
    "article_id": pl.Utf8(),
    "product_code": pl.Int64(),
    "prod_name": pl.Utf8(),
    "product_type_no": pl.Int64(),
    "product_type_name": pl.Utf8(),
    "product_group_name": pl.Utf8(),
    "graphical_appearance_no": pl.Int64(),
    "graphical_appearance_name": pl.Utf8(),
    "colour_group_code": pl.Int64(),
    "colour_group_name": pl.Utf8(),
    "perceived_colour_value_id": pl.Int64(),
    "perceived_colour_value_name": pl.Utf8(),
    "perceived_colour_master_id": pl.Int64(),
    "perceived_colour_master_name": pl.Utf8(),
    "department_no": pl.Int64(),
    "department_name": pl.Utf8(),
    "index_code": pl.Utf8(),
    "index_name": pl.Utf8(),
    "index_group_no": pl.Int64(),
    "index_group_name": pl.Utf8(),
    "section_no": pl.Int64(),
    "section_name": pl.Utf8(),
    "garment_group_no": pl.Int64(),
    "garment_group_name": pl.Utf8(),
    "detail_desc": pl.Utf8(),
}

CUSTOMER_COLUMNS: dict[str, pl.DataType] = {
    "customer_id": pl.Utf8(),
    "FN": pl.Float64(),
    "Active": pl.Float64(),
    "club_member_status": pl.Utf8(),
    "fashion_news_frequency": pl.Utf8(),
    "age": pl.Float64(),
    "postal_code": pl.Utf8(),
}

TRANSACTION_COLUMNS: dict[str, pl.DataType] = {
    "t_dat": pl.Utf8(),
    "customer_id": pl.Utf8(),
    "article_id": pl.Utf8(),
    "price": pl.Float64(),
    "sales_channel_id": pl.Int64(),
}

HM_FILES = {
    "articles": "articles.csv",
    "customers": "customers.csv",
    "transactions": "transactions_train.csv",
}

# ------------------------------------------------------------------------------------------------
# catalogue vocabulary (codes and names as in the real H&M files)

# product_type_no -> (product_type_name, product_group_name, name nouns, materials, features, SEK price range)
_PRODUCT_TYPES: dict[int, tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[int, int]]] = {
    255: ("T-shirt", "Garment Upper body", ("T-shirt", "Tee"), ("Cotton", "Jersey", "Slub jersey", "Modal"),
          ("a round neckline", "short sleeves", "a rounded hem", "dropped shoulders", "a chest pocket"), (79, 199)),
    253: ("Vest top", "Garment Upper body", ("Vest top", "Strap top", "Tank top"), ("Jersey", "Rib-knit", "Cotton"),
          ("narrow shoulder straps", "a deep neckline", "a racer back", "a straight-cut hem"), (59, 149)),
    254: ("Top", "Garment Upper body", ("Top", "Crop top", "Wrap top"), ("Jersey", "Satin", "Crêpe", "Rib-knit"),
          ("a V-neck", "puff sleeves", "a tie at the front", "a cropped cut", "smocking at the back"), (99, 249)),
    252: ("Sweater", "Garment Upper body", ("Jumper", "Sweater", "Sweatshirt"), ("Wool-blend", "Cashmere-blend", "Cotton", "Sweatshirt"),
          ("ribbing around the neckline", "long raglan sleeves", "dropped shoulders", "a soft brushed inside"), (199, 499)),
    245: ("Cardigan", "Garment Upper body", ("Cardigan",), ("Wool-blend", "Mohair-blend", "Fine-knit", "Cable-knit"),
          ("buttons down the front", "long sleeves", "ribbed cuffs and hem", "front pockets"), (249, 499)),
    258: ("Blouse", "Garment Upper body", ("Blouse",), ("Viscose", "Chiffon", "Crêpe", "Satin"),
          ("a collar", "buttons down the front", "long balloon sleeves", "a frill trim", "covered buttons"), (199, 399)),
    259: ("Shirt", "Garment Upper body", ("Shirt", "Overshirt"), ("Linen", "Oxford", "Poplin", "Flannel"),
          ("a turn-down collar", "a classic front", "a yoke at the back", "a chest pocket", "a rounded hem"), (199, 399)),
    272: ("Trousers", "Garment Lower body", ("Trousers", "Chinos", "Joggers"), ("Twill", "Linen", "Wool-blend", "Crêpe"),
          ("a high waist", "side pockets", "pressed pleats", "an elasticated drawstring waist", "tapered legs"), (199, 499)),
    275: ("Skirt", "Garment Lower body", ("Skirt", "Midi skirt"), ("Satin", "Pleated", "Twill", "Crêpe"),
          ("a high waist", "a concealed zip in the side", "a flared hem", "a slit at the front"), (149, 349)),
    265: ("Dress", "Garment Full body", ("Dress", "Midi dress", "Shirt dress"), ("Viscose", "Crêpe", "Jersey", "Satin"),
          ("a V-neck", "a tie belt at the waist", "short puff sleeves", "a flared skirt", "a smocked bodice"), (199, 599)),
    264: ("Blazer", "Garment Upper body", ("Blazer",), ("Wool-blend", "Twill", "Linen-blend"),
          ("notch lapels", "flap front pockets", "a single-breasted fastening", "shoulder pads"), (399, 799)),
    263: ("Coat", "Garment Upper body", ("Coat", "Trenchcoat"), ("Wool-blend", "Felted", "Cotton twill"),
          ("a double-breasted fastening", "a detachable tie belt", "welt pockets", "a vent at the back"), (599, 1299)),
    262: ("Jacket", "Garment Upper body", ("Jacket", "Bomber jacket", "Puffer jacket"), ("Nylon", "Padded", "Corduroy", "Teddy fleece"),
          ("a zip down the front", "a stand-up collar", "ribbed cuffs", "zipped side pockets", "a lined hood"), (299, 799)),
    308: ("Hoodie", "Garment Upper body", ("Hoodie",), ("Sweatshirt", "Cotton-blend", "Fleece"),
          ("a lined drawstring hood", "a kangaroo pocket", "ribbed cuffs and hem", "a soft brushed inside"), (199, 399)),
    306: ("Bra", "Underwear", ("Bra", "Bralette", "Push-up bra"), ("Lace", "Microfibre", "Mesh"),
          ("underwired moulded cups", "adjustable shoulder straps", "a hook-and-eye fastening at the back", "a scalloped trim"), (149, 349)),
    286: ("Underwear bottom", "Underwear", ("Briefs", "Thong", "Hipster briefs"), ("Lace", "Microfibre", "Cotton"),
          ("a low waist", "a lined gusset", "narrow sides", "a lace trim"), (49, 149)),
    273: ("Leggings/Tights", "Garment Lower body", ("Leggings", "Sports tights"), ("Fast-drying", "Jersey", "Recycled polyester"),
          ("a wide waistband", "a concealed key pocket", "flatlock seams", "a high waist"), (149, 349)),
    274: ("Shorts", "Garment Lower body", ("Shorts", "Cycling shorts"), ("Fast-drying", "Twill", "Jersey", "Linen"),
          ("an elasticated waist", "side pockets", "short legs", "an inner brief"), (99, 249)),
    297: ("Pyjama set", "Nightwear", ("Pyjamas", "Pyjama set"), ("Satin", "Soft jersey", "Flannel"),
          ("a top with a collar", "piping on the edges", "an elasticated waist", "long wide legs"), (199, 399)),
    296: ("Pyjama bottom", "Nightwear", ("Pyjama bottoms",), ("Soft jersey", "Flannel", "Cotton"),
          ("an elasticated waist", "a drawstring", "long straight legs"), (99, 199)),
    298: ("Bikini top", "Swimwear", ("Bikini top",), ("Textured", "Shimmering", "Recycled"),
          ("padded cups", "ties at the back", "a triangle cut", "an underwired shape"), (99, 249)),
    59: ("Swimwear bottom", "Swimwear", ("Bikini bottoms",), ("Textured", "Shimmering", "Recycled"),
         ("a high leg", "ties at the sides", "a lined front", "a Brazilian cut"), (99, 199)),
    57: ("Swimsuit", "Swimwear", ("Swimsuit",), ("Textured", "Shimmering", "Recycled"),
         ("a low-cut back", "lined cups", "adjustable straps", "a high leg"), (199, 399)),
    91: ("Sandals", "Shoes", ("Sandals",), ("Leather", "Imitation leather", "Braided"),
         ("an adjustable ankle strap", "a padded footbed", "a block heel"), (199, 499)),
    87: ("Boots", "Shoes", ("Boots", "Ankle boots"), ("Leather", "Suede", "Imitation leather"),
         ("a chunky sole", "a zip in the side", "a lug sole", "elastic side panels"), (399, 899)),
    90: ("Pumps", "Shoes", ("Pumps", "Court shoes"), ("Imitation suede", "Patent", "Satin"),
         ("a pointed toe", "a covered heel", "a padded insole"), (299, 599)),
    94: ("Sneakers", "Shoes", ("Trainers", "Sneakers"), ("Canvas", "Mesh", "Imitation leather"),
         ("lacing at the front", "a padded tongue", "a chunky rubber sole"), (249, 599)),
    302: ("Socks", "Socks & Tights", ("Socks", "Ankle socks"), ("Fine-knit", "Terry", "Cotton-blend"),
          ("ribbed tops", "a silicone trim at the heel", "reinforced toes"), (39, 99)),
    304: ("Underwear Tights", "Socks & Tights", ("Tights", "Stay-ups"), ("Matt", "Semi-shiny", "Opaque"),
          ("an elasticated waist", "a shaping top", "reinforced toes", "a lace trim at the top"), (49, 149)),
    256: ("Bodysuit", "Garment Upper body", ("Bodysuit", "Romper"), ("Organic cotton", "Soft jersey", "Rib-knit"),
          ("press-studs at the crotch", "an envelope neckline", "long sleeves", "a printed motif"), (79, 179)),
    270: ("Garment Set", "Garment Full body", ("Set", "Two-piece set"), ("Organic cotton", "Soft jersey", "Fleece"),
          ("a top and matching trousers", "an elasticated waist", "ribbed cuffs", "a printed motif"), (149, 299)),
    70: ("Earring", "Accessories", ("Earrings", "Hoop earrings"), ("Metal", "Sterling silver", "Gold-plated"),
         ("a post closure", "a hinged hoop", "faceted stones", "pendants"), (49, 149)),
    77: ("Necklace", "Accessories", ("Necklace", "Chain necklace"), ("Metal", "Sterling silver", "Gold-plated"),
         ("a pendant", "a lobster clasp", "an extension chain", "beads"), (79, 199)),
    73: ("Hair string", "Accessories", ("Hair ties", "Scrunchie"), ("Satin", "Velvet", "Elastic"),
         ("a soft elastic", "a draped finish", "assorted colours"), (29, 79)),
    80: ("Scarf", "Accessories", ("Scarf",), ("Wool-blend", "Woven", "Knitted"),
         ("fringes at the short sides", "a soft finish", "a check pattern"), (99, 249)),
    67: ("Belt", "Accessories", ("Belt", "Waist belt"), ("Leather", "Imitation leather", "Woven"),
         ("a metal buckle", "adjustable length", "a stitched edge"), (99, 249)),
    66: ("Bag", "Accessories", ("Bag", "Shoulder bag"), ("Imitation leather", "Canvas", "Quilted"),
         ("a zip at the top", "an adjustable shoulder strap", "an inner compartment"), (199, 499)),
    75: ("Hat/beanie", "Accessories", ("Beanie", "Hat"), ("Rib-knit", "Wool-blend", "Felted"),
         ("a turned-up brim", "a soft lining", "a pompom"), (79, 199)),
}

# (colour_group_code, colour_group_name, perceived_colour_value_id, _name, perceived_colour_master_id, _name)
_COLOURS: dict[str, tuple[int, str, int, str, int, str]] = {
    c[1]: c
    for c in (
        (9, "Black", 4, "Dark", 5, "Black"),
        (10, "White", 3, "Light", 9, "White"),
        (11, "Off White", 1, "Dusty Light", 9, "White"),
        (73, "Dark Blue", 4, "Dark", 2, "Blue"),
        (72, "Blue", 2, "Medium Dusty", 2, "Blue"),
        (71, "Light Blue", 1, "Dusty Light", 2, "Blue"),
        (51, "Light Pink", 1, "Dusty Light", 4, "Pink"),
        (52, "Pink", 2, "Medium Dusty", 4, "Pink"),
        (7, "Grey", 1, "Dusty Light", 12, "Grey"),
        (8, "Dark Grey", 4, "Dark", 12, "Grey"),
        (6, "Light Grey", 1, "Dusty Light", 12, "Grey"),
        (43, "Dark Red", 4, "Dark", 18, "Red"),
        (42, "Red", 5, "Bright", 18, "Red"),
        (12, "Light Beige", 1, "Dusty Light", 11, "Beige"),
        (13, "Beige", 2, "Medium Dusty", 11, "Beige"),
        (19, "Greenish Khaki", 4, "Dark", 20, "Khaki green"),
        (93, "Dark Green", 4, "Dark", 19, "Green"),
        (22, "Yellow", 7, "Medium", 8, "Yellow"),
        (31, "Light Orange", 1, "Dusty Light", 3, "Orange"),
        (5, "Gold", 5, "Bright", 15, "Metal"),
        (3, "Silver", 3, "Light", 15, "Metal"),
        (17, "Yellowish Brown", 2, "Medium Dusty", 13, "Brown"),
        (83, "Dark Turquoise", 4, "Dark", 7, "Turquoise"),
        (81, "Light Turquoise", 1, "Dusty Light", 7, "Turquoise"),
        (63, "Dark Purple", 4, "Dark", 6, "Lilac Purple"),
    )
}

_APPEARANCES: dict[str, int] = {
    "Solid": 1010016,
    "All over pattern": 1010001,
    "Melange": 1010010,
    "Denim": 1010023,
    "Stripe": 1010017,
    "Placement print": 1010014,
    "Front print": 1010008,
    "Check": 1010004,
    "Lace": 1010021,
    "Colour blocking": 1010005,
    "Treatment": 1010018,
    "Embroidery": 1010007,
    "Jacquard": 1010022,
    "Other structure": 1010026,
}

# index_code -> (index_name, index_group_no, index_group_name)
_INDEXES: dict[str, tuple[str, int, str]] = {
    "A": ("Ladieswear", 1, "Ladieswear"),
    "B": ("Lingeries/Tights", 1, "Ladieswear"),
    "C": ("Ladies Accessories", 1, "Ladieswear"),
    "D": ("Divided", 2, "Divided"),
    "F": ("Menswear", 3, "Menswear"),
    "G": ("Baby Sizes 50-98", 4, "Baby/Children"),
    "H": ("Children Sizes 92-140", 4, "Baby/Children"),
    "I": ("Children Sizes 134-170", 4, "Baby/Children"),
    "S": ("Sport", 26, "Sport"),
}


@dataclass(frozen=True)
class _Dept:
    no: int
    name: str
    index_code: str
    section_no: int
    section_name: str
    garment_group_no: int
    garment_group_name: str
    product_types: tuple[int, ...]
    materials: tuple[str, ...] = ()  # overrides the product types' materials when set


@dataclass(frozen=True)
class _Style:
    name: str
    share: float  # share of customers' taste mass and of the catalogue
    age: tuple[float, float]  # mean, sd of the age of customers who mainly shop this style
    depts: tuple[_Dept, ...]
    colours: tuple[str, ...]  # palette, most typical first
    appearances: tuple[str, ...]  # most typical first
    adjectives: tuple[str, ...]
    phrases: tuple[str, ...]  # closing sentences of detail_desc
    season_peak: int = 0  # day of year with the most demand
    season_amp: float = 0.0  # log-amplitude of the seasonal swing
    repeat: float = 1.0  # multiplier on the customer's repeat-purchase rate


_STYLES: tuple[_Style, ...] = (
    _Style(
        "everyday_basics", 0.12, (38, 10),
        (
            _Dept(1676, "Jersey Basic", "A", 16, "Womens Everyday Basics", 1002, "Jersey Basic", (255, 253, 254)),
            _Dept(1646, "Knitwear Basic", "A", 16, "Womens Everyday Basics", 1003, "Knitwear", (252, 245)),
        ),
        ("Black", "White", "Grey", "Light Beige", "Off White", "Dark Blue"),
        ("Solid", "Melange", "Stripe"),
        ("Essential", "Basic", "Soft", "Classic", "Fitted"),
        ("A wardrobe staple in soft, easy-care fabric.", "Made for everyday wear and easy layering.",
         "Simple, timeless and comfortable all day."),
        repeat=1.8,
    ),
    _Style(
        "tailoring", 0.09, (44, 9),
        (
            _Dept(1515, "Blouse", "A", 11, "Womens Tailoring", 1010, "Blouses", (258, 259)),
            _Dept(1717, "Trouser", "A", 11, "Womens Tailoring", 1009, "Trousers", (272,)),
            _Dept(1414, "Skirt", "A", 11, "Womens Tailoring", 1012, "Skirts", (275,)),
            _Dept(1313, "Dress", "A", 11, "Womens Tailoring", 1013, "Dresses Ladies", (265,)),
            _Dept(1201, "Outwear", "A", 19, "Womens Jackets", 1007, "Outdoor", (264, 263)),
        ),
        ("Black", "Dark Blue", "Light Beige", "White", "Dark Grey", "Beige"),
        ("Solid", "Check", "Stripe"),
        ("Tailored", "Straight", "Pleated", "Structured", "Slim"),
        ("Clean lines for the office and beyond.", "A sharp, tailored silhouette.",
         "Smart enough for work, easy enough for the weekend."),
    ),
    _Style(
        "divided_trend", 0.11, (21, 4),
        (
            _Dept(1640, "Tops Fancy Jersey", "D", 53, "Divided Collection", 1005, "Jersey Fancy", (254, 255, 253)),
            _Dept(1344, "Dresses", "D", 53, "Divided Collection", 1013, "Dresses Ladies", (265,)),
            _Dept(1444, "Skirts", "D", 53, "Divided Collection", 1012, "Skirts", (275,)),
            _Dept(1747, "Trousers", "D", 53, "Divided Collection", 1009, "Trousers", (272,)),
        ),
        ("Light Pink", "Black", "White", "Light Orange", "Yellow", "Light Turquoise"),
        ("All over pattern", "Placement print", "Front print", "Solid"),
        ("Cropped", "Oversized", "Ribbed", "Printed", "Flared"),
        ("Bold and playful, made for going out.", "A statement piece with a festival feel.",
         "Trend-led styling for a fresh look."),
        season_peak=150, season_amp=0.25,
    ),
    _Style(
        "denim_street", 0.09, (25, 6),
        (
            _Dept(1772, "Denim Trousers", "D", 57, "Ladies Denim", 1016, "Trousers Denim", (272, 274),
                  ("Denim", "Stretch denim", "Washed denim")),
            _Dept(5672, "Denim trousers", "F", 56, "Denim Men", 1016, "Trousers Denim", (272,),
                  ("Denim", "Rigid denim", "Washed denim")),
            _Dept(1643, "Basic 1", "D", 51, "Divided Basics", 1002, "Jersey Basic", (308, 255)),
            _Dept(1244, "Outdoor/Blazers", "D", 53, "Divided Collection", 1007, "Outdoor", (262,)),
        ),
        ("Blue", "Dark Blue", "Light Blue", "Black", "Grey", "Greenish Khaki"),
        ("Denim", "Solid", "Treatment"),
        ("Relaxed", "Baggy", "Skinny", "Washed", "Vintage"),
        ("Streetwear with a relaxed, lived-in feel.", "Five-pocket styling with a worn-in wash.",
         "An urban look built on denim."),
        repeat=0.8,
    ),
    _Style(
        "sport", 0.07, (30, 7),
        (
            _Dept(8316, "Ladies Sport Bras", "S", 5, "Ladies H&M Sport", 1005, "Jersey Fancy", (306, 253)),
            _Dept(8310, "Ladies Sport Bottoms", "S", 5, "Ladies H&M Sport", 1005, "Jersey Fancy", (273, 274)),
            _Dept(8396, "Ladies Sport Acc", "S", 5, "Ladies H&M Sport", 1019, "Accessories", (66, 302)),
        ),
        ("Black", "Dark Grey", "Dark Turquoise", "Light Pink", "Dark Purple"),
        ("Solid", "Colour blocking", "Melange"),
        ("Seamless", "Training", "Running", "High-support", "Breathable"),
        ("Sports fabric that wicks away moisture.", "Made for training, yoga and running.",
         "Fast-drying functional fabric with stretch."),
        season_peak=100, season_amp=0.2,
    ),
    _Style(
        "lingerie", 0.09, (33, 9),
        (
            _Dept(1338, "Expressive Lingerie", "B", 61, "Womens Lingerie", 1017, "Under-, Nightwear", (306, 286)),
            _Dept(1334, "Casual Lingerie", "B", 61, "Womens Lingerie", 1017, "Under-, Nightwear", (306, 286)),
            _Dept(3709, "Nightwear", "B", 62, "Womens Nightwear, Socks & Tigh", 1017, "Under-, Nightwear", (297, 296)),
        ),
        ("Black", "Light Pink", "White", "Dark Red", "Light Beige"),
        ("Lace", "Solid", "All over pattern"),
        ("Lace", "Soft", "Padded", "Delicate", "Satin"),
        ("Delicate lingerie with a feminine finish.", "Soft against the skin for all-day comfort.",
         "Designed to lift, shape and flatter."),
        repeat=1.5,
    ),
    _Style(
        "swim", 0.05, (31, 8),
        (
            _Dept(4242, "Swimwear", "B", 60, "Womens Swimwear, beachwear", 1018, "Swimwear", (298, 59, 57)),
            _Dept(3527, "Flats", "C", 64, "Womens Shoes", 1020, "Shoes", (91,)),
        ),
        ("Black", "Dark Blue", "Yellow", "Red", "Light Turquoise", "Light Orange"),
        ("All over pattern", "Stripe", "Solid"),
        ("Beach", "Tropical", "Summer", "Cut-out", "Sunny"),
        ("Ready for the beach and the pool.", "A summer essential for sunny days.",
         "Quick-drying fabric for holidays by the sea."),
        season_peak=175, season_amp=1.1,
    ),
    _Style(
        "menswear", 0.09, (36, 10),
        (
            _Dept(5878, "Knitwear", "F", 20, "Contemporary Smart", 1003, "Knitwear", (252,)),
            _Dept(8617, "Shirt S&T", "F", 23, "Men Suits & Tailoring", 1011, "Shirts", (259,)),
            _Dept(5686, "Trouser", "F", 20, "Contemporary Smart", 1009, "Trousers", (272,)),
            _Dept(5848, "Jersey Fancy", "F", 21, "Contemporary Casual", 1005, "Jersey Fancy", (255, 308)),
            _Dept(5868, "Basics", "F", 26, "Men Underwear", 1002, "Jersey Basic", (286, 302)),
        ),
        ("Dark Blue", "Black", "Grey", "White", "Greenish Khaki", "Dark Green"),
        ("Solid", "Melange", "Check"),
        ("Regular Fit", "Slim Fit", "Relaxed Fit", "Smart", "Casual"),
        ("A modern menswear essential.", "Easy to wear and easy to combine.",
         "Classic menswear with a contemporary fit."),
        repeat=1.3,
    ),
    _Style(
        "kids", 0.08, (37, 6),
        (
            _Dept(7616, "Kids Girl Jersey Fancy", "H", 76, "Kids Girl", 1005, "Jersey Fancy", (255, 265, 273)),
            _Dept(7648, "Kids Boy Jersey Fancy", "H", 46, "Kids Boy", 1005, "Jersey Fancy", (255, 308, 274)),
            _Dept(8716, "Young Girl Jersey Fancy", "I", 77, "Young Girl", 1005, "Jersey Fancy", (254, 265, 272)),
            _Dept(8748, "Young Boy Jersey Fancy", "I", 47, "Young Boy", 1005, "Jersey Fancy", (255, 308, 272)),
        ),
        ("Light Pink", "Blue", "Red", "Yellow", "White", "Dark Blue"),
        ("Front print", "Stripe", "All over pattern", "Solid"),
        ("Printed", "Playful", "Colourful", "Sporty", "Cosy"),
        ("Made for play at school and at home.", "Soft, durable and easy to move in.",
         "Fun prints that kids love."),
    ),
    _Style(
        "baby", 0.05, (31, 5),
        (
            _Dept(6515, "Baby basics", "G", 44, "Baby Essentials & Complements", 1002, "Jersey Basic", (256, 270)),
            _Dept(6564, "Newborn", "G", 44, "Baby Essentials & Complements", 1005, "Jersey Fancy", (256, 270)),
            _Dept(6545, "Baby Boy Jersey Fancy", "G", 41, "Baby Boy", 1005, "Jersey Fancy", (270, 255)),
        ),
        ("White", "Light Pink", "Light Blue", "Light Beige", "Grey"),
        ("Solid", "All over pattern", "Stripe"),
        ("Organic", "Cosy", "Tiny", "Soft", "Newborn"),
        ("Gentle organic cotton for delicate baby skin.", "Easy to put on and take off.",
         "Soft essentials for the very first months."),
        repeat=1.6,
    ),
    _Style(
        "accessories", 0.06, (34, 11),
        (
            _Dept(4344, "Jewellery", "C", 66, "Womens Small accessories", 1019, "Accessories", (70, 77)),
            _Dept(4343, "Hair Accessories", "C", 66, "Womens Small accessories", 1019, "Accessories", (73,)),
            _Dept(3409, "Scarves", "C", 65, "Womens Big accessories", 1019, "Accessories", (80, 75)),
            _Dept(3509, "Belts", "C", 65, "Womens Big accessories", 1019, "Accessories", (67, 66)),
        ),
        ("Gold", "Silver", "Black", "Light Beige", "Dark Red"),
        ("Solid", "Treatment", "Embroidery"),
        ("Sparkly", "Chunky", "Minimal", "Twisted", "Statement"),
        ("A finishing touch for any outfit.", "Small details that make the look.",
         "Easy to style, day or night."),
    ),
    _Style(
        "occasion", 0.04, (46, 10),
        (
            _Dept(1926, "Woven Occasion", "A", 14, "Womens Premium", 1013, "Dresses Ladies", (265, 258)),
            _Dept(3529, "Boots", "C", 64, "Womens Shoes", 1020, "Shoes", (87, 90)),
        ),
        ("Black", "Dark Red", "Gold", "Dark Green", "Light Beige"),
        ("Solid", "Jacquard", "Embroidery"),
        ("Elegant", "Draped", "Premium", "Sequined", "Velvet"),
        ("Premium quality for special occasions.", "An elegant choice for evenings out.",
         "Refined details and a luxurious finish."),
        season_peak=350, season_amp=0.4,
    ),
    _Style(
        "knit_cosy", 0.08, (40, 10),
        (
            _Dept(1626, "Knitwear", "A", 15, "Womens Everyday Collection", 1003, "Knitwear", (252, 245)),
            _Dept(1636, "Jersey fancy", "A", 15, "Womens Everyday Collection", 1005, "Jersey Fancy", (254, 308)),
            _Dept(1202, "Outwear", "A", 19, "Womens Jackets", 1007, "Outdoor", (263, 262)),
        ),
        ("Light Beige", "Grey", "Dark Green", "Off White", "Beige", "Yellowish Brown"),
        ("Melange", "Jacquard", "Other structure", "Solid"),
        ("Chunky", "Cosy", "Cable-knit", "Textured", "Warm"),
        ("Warm and cosy for the colder months.", "A soft knit to snuggle up in.",
         "Layer up in textured, cosy knitwear."),
        season_peak=10, season_amp=0.8,
    ),
    _Style(
        "socks_tights", 0.05, (41, 12),
        (
            _Dept(3608, "Tights basic", "B", 62, "Womens Nightwear, Socks & Tigh", 1021, "Socks and Tights", (304,)),
            _Dept(3611, "Shopbasket Socks", "B", 62, "Womens Nightwear, Socks & Tigh", 1021, "Socks and Tights", (302,)),
        ),
        ("Black", "Dark Grey", "Light Beige", "White"),
        ("Solid", "Stripe"),
        ("Everyday", "Multipack", "Shaping", "Fine", "Support"),
        ("Everyday comfort in a handy multipack.", "Durable basics to stock up on.",
         "A fine, comfortable fit that stays in place."),
        season_peak=330, season_amp=0.3, repeat=2.5,
    ),
)

STYLE_NAMES: tuple[str, ...] = tuple(s.name for s in _STYLES)

# materials that read as adjectives: "in woven fabric" rather than "in woven"
_ADJECTIVE_MATERIALS = frozenset(
    {"Woven", "Knitted", "Textured", "Shimmering", "Recycled", "Padded", "Quilted", "Felted", "Pleated",
     "Fast-drying", "Matt", "Semi-shiny", "Opaque", "Braided", "Fine-knit", "Cable-knit", "Rib-knit"}
)

_YOUNG_STYLES = frozenset({"divided_trend", "denim_street"})
_EPOCH = _dt.date(1970, 1, 1)


# ------------------------------------------------------------------------------------------------
# result type and errors


class SyntheticParamError(ConfigError, ValueError):
    """An invalid parameter of the synthetic generator (both a ConfigError and a ValueError)."""


@dataclass
class SyntheticHM:
    """The three H&M tables, plus the latent truth they were drawn from.

    Attributes:
        articles, customers, transactions: polars frames with the Kaggle files' columns and
            dtypes (see :data:`ARTICLE_COLUMNS`, :data:`CUSTOMER_COLUMNS`,
            :data:`TRANSACTION_COLUMNS`).
        latent: ground truth for tests and diagnostics, aligned with the frames' rows:
            ``article_style`` (style index per article row), ``customer_taste`` (customers x styles
            mixture), ``customer_style`` (main style per customer row), ``style_names``.
        params: the parameters used.
    """

    articles: pl.DataFrame
    customers: pl.DataFrame
    transactions: pl.DataFrame
    latent: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    params: dict[str, Any] = field(default_factory=dict, compare=False)


# ------------------------------------------------------------------------------------------------
# parameter validation


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise SyntheticParamError(f"synthetic data: {name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise SyntheticParamError(f"synthetic data: {name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SyntheticParamError(f"synthetic data: {name} must be <= {maximum}, got {value}")
    return value


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SyntheticParamError(f"synthetic data: {name} must be a number, got {value!r}")
    value = float(value)
    bad_low = value <= low if low_open else value < low
    if not math.isfinite(value) or bad_low or value > high:
        bracket = "(" if low_open else "["
        raise SyntheticParamError(f"synthetic data: {name} must lie in {bracket}{low}, {high}], got {value}")
    return value


def _check_start(start: Any) -> _dt.date:
    if isinstance(start, _dt.datetime):
        return start.date()
    if isinstance(start, _dt.date):
        return start
    if isinstance(start, str):
        try:
            return _dt.date.fromisoformat(start)
        except ValueError:
            pass
    raise SyntheticParamError(f"synthetic data: start must be a date 'YYYY-MM-DD', got {start!r}")


# ------------------------------------------------------------------------------------------------
# generation


def generate_hm(
    n_customers: int = 4000,
    n_articles: int = 1500,
    n_transactions: int = 80_000,
    start: str | _dt.date = "2020-01-01",
    days: int = 182,
    seed: int = 0,
    *,
    taste_concentration: float = 1.0,
    zipf_exponent: float = 1.0,
    impulse_rate: float = 0.1,
    repeat_rate: float = 0.08,
    new_article_share: float = 0.3,
    trend_strength: float = 0.8,
) -> SyntheticHM:
    """Draw a synthetic H&M-like data set.

    Args:
        n_customers: number of customers (rows of ``customers``).
        n_articles: number of articles (rows of ``articles``).
        n_transactions: number of purchase rows. When it is at least ``n_customers`` every
            customer buys at least once; otherwise some customers never buy (as in the real data).
        start: first day of the period (``"YYYY-MM-DD"`` or a date).
        days: length of the period in days; ``t_dat`` lies in ``[start, start + days)``.
        seed: random seed; the same seed and parameters give identical frames.
        taste_concentration: total Dirichlet concentration of customers' style mixtures; small
            values give customers who stick to one or two styles (more personal structure).
        zipf_exponent: exponent of the Zipf-like product popularity within a style.
        impulse_rate: share of purchases whose style is drawn from the global style shares instead
            of the customer's taste.
        repeat_rate: mean share of a customer's purchases that re-buy an earlier item.
        new_article_share: share of products launched during the period (not available before).
        trend_strength: standard deviation of each article's log-popularity change over the period.

    Raises:
        SyntheticParamError: (a :class:`~recsmith.errors.ConfigError` and a ``ValueError``) for an
            invalid parameter.
    """
    n_customers = _check_int("n_customers", n_customers, 1, 50_000_000)
    n_articles = _check_int("n_articles", n_articles, 1, 900_000)  # product codes have 6 digits
    n_transactions = _check_int("n_transactions", n_transactions, 1, 500_000_000)
    days = _check_int("days", days, 1, 3650)
    seed = _check_int("seed", seed, 0)
    start_date = _check_start(start)
    taste_concentration = _check_float("taste_concentration", taste_concentration, 0.0, 1e6, low_open=True)
    zipf_exponent = _check_float("zipf_exponent", zipf_exponent, 0.0, 5.0)
    impulse_rate = _check_float("impulse_rate", impulse_rate, 0.0, 1.0)
    repeat_rate = _check_float("repeat_rate", repeat_rate, 0.0, 0.9)
    new_article_share = _check_float("new_article_share", new_article_share, 0.0, 1.0)
    trend_strength = _check_float("trend_strength", trend_strength, 0.0, 5.0)
    params = {
        "n_customers": n_customers,
        "n_articles": n_articles,
        "n_transactions": n_transactions,
        "start": start_date.isoformat(),
        "days": days,
        "seed": seed,
        "taste_concentration": taste_concentration,
        "zipf_exponent": zipf_exponent,
        "impulse_rate": impulse_rate,
        "repeat_rate": repeat_rate,
        "new_article_share": new_article_share,
        "trend_strength": trend_strength,
    }

    # independent streams, so that e.g. changing n_transactions keeps the same catalogue
    ss = np.random.SeedSequence([seed, 0x484D])  # "HM"
    rng_cat, rng_cust, rng_tx = (np.random.default_rng(s) for s in ss.spawn(3))

    cat = _draw_catalogue(rng_cat, n_articles, days, zipf_exponent, new_article_share, trend_strength)
    cust = _draw_customers(rng_cust, n_customers, n_transactions, taste_concentration, repeat_rate)
    tx = _draw_transactions(rng_tx, cat, cust, n_transactions, start_date, days, impulse_rate)

    # ---- frames -------------------------------------------------------------------------------
    articles = cat["frame"]
    customers = _customer_frame(rng_cust, cust, n_customers)

    order = np.argsort(cat["article_id"], kind="stable")  # the Kaggle file is sorted by article_id
    articles = articles[order]
    c_order = np.argsort(cust["customer_id"], kind="stable")
    customers = customers[c_order]

    # the Kaggle file is ordered by day; within a day, by customer (each customer's rows in
    # purchase order)
    t_day = tx["day"]
    tx_order = np.lexsort((np.arange(t_day.size), cust["id_rank"][tx["customer"]], t_day))
    start_days = (start_date - _EPOCH).days
    transactions = pl.DataFrame(
        {
            "t_dat": pl.Series((t_day[tx_order] + start_days).astype(np.int32)).cast(pl.Date).dt.to_string("%Y-%m-%d"),
            "customer_id": pl.Series(cust["customer_id"], dtype=pl.Utf8).gather(tx["customer"][tx_order]),
            "article_id": pl.Series(cat["article_id"], dtype=pl.Utf8).gather(tx["item"][tx_order]),
            "price": tx["price"][tx_order],
            "sales_channel_id": tx["channel"][tx_order].astype(np.int64),
        },
        schema=TRANSACTION_COLUMNS,
    )

    latent = {
        "style_names": STYLE_NAMES,
        "article_style": cat["style"][order],
        "customer_taste": cust["taste"][c_order],
        "customer_style": cust["main_style"][c_order],
    }
    return SyntheticHM(articles=articles, customers=customers, transactions=transactions, latent=latent, params=params)


def _zipf_weights(ranks: np.ndarray, exponent: float) -> np.ndarray:
    return 1.0 / np.power(ranks + 1.0, exponent)


def _draw_catalogue(
    rng: np.random.Generator,
    n_articles: int,
    days: int,
    zipf_exponent: float,
    new_article_share: float,
    trend_strength: float,
) -> dict[str, Any]:
    n_styles = len(_STYLES)
    share = np.array([s.share for s in _STYLES])
    share = share / share.sum()

    # products (1..6 colour variants each) until n_articles articles exist
    n_var = np.minimum(rng.geometric(0.5, size=n_articles), 6)
    cum = np.cumsum(n_var)
    n_products = int(np.searchsorted(cum, n_articles) + 1)
    n_var = n_var[:n_products].copy()
    n_var[-1] -= int(cum[n_products - 1] - n_articles)
    product_of = np.repeat(np.arange(n_products), n_var)  # article -> product
    first_of_product = np.concatenate([[0], np.cumsum(n_var)[:-1]])
    variant_rank = np.arange(n_articles) - first_of_product[product_of]

    # product attributes ------------------------------------------------------------------------
    p_style = rng.choice(n_styles, size=n_products, p=share)
    launch = np.where(
        rng.random(n_products) < new_article_share,
        rng.uniform(0.0, 0.9 * days, n_products),  # launched during the period
        -rng.uniform(0.0, 365.0, n_products),  # in the range before the period started
    )
    # newest products get the largest product codes
    codes = np.sort(rng.choice(900_000, size=n_products, replace=False) + 100_000)
    p_code = np.empty(n_products, dtype=np.int64)
    p_code[np.argsort(launch, kind="stable")] = codes

    # within-style Zipf rank of each product
    p_rank = np.empty(n_products, dtype=np.float64)
    perm = rng.permutation(n_products)
    for s in range(n_styles):
        members = perm[p_style[perm] == s]
        p_rank[members] = np.arange(members.size)
    p_base = _zipf_weights(p_rank, zipf_exponent)

    p_dept = np.empty(n_products, dtype=np.int64)
    p_type = np.empty(n_products, dtype=np.int64)
    p_adj = np.empty(n_products, dtype=object)
    p_mat = np.empty(n_products, dtype=object)
    p_noun = np.empty(n_products, dtype=object)
    p_desc = np.empty(n_products, dtype=object)
    p_price = np.empty(n_products, dtype=np.float64)
    u = rng.random((n_products, 9))
    for p in range(n_products):  # per product (names and texts), not per transaction
        st = _STYLES[p_style[p]]
        dept = st.depts[int(u[p, 0] * len(st.depts))]
        ptype = dept.product_types[int(u[p, 1] * len(dept.product_types))]
        tname, _group, nouns, materials, features, (lo, hi) = _PRODUCT_TYPES[ptype]
        mats = dept.materials or materials
        adj = st.adjectives[int(u[p, 2] * len(st.adjectives))]
        m = int(u[p, 3] * len(mats))
        if mats[m].lower() == adj.lower() and len(mats) > 1:  # no "Cable-knit Cable-knit Cardigan"
            m = (m + 1) % len(mats)
        mat = mats[m]
        noun = nouns[int(u[p, 4] * len(nouns))]
        f1 = int(u[p, 5] * len(features))
        f2 = (f1 + 1 + int(u[p, 6] * (len(features) - 1))) % len(features)
        phrase = st.phrases[int(u[p, 7] * len(st.phrases))]
        p_dept[p] = st.depts.index(dept)
        p_type[p] = ptype
        p_adj[p], p_mat[p], p_noun[p] = adj, mat.title() if " " in mat else mat, noun
        desc_noun = noun if noun.startswith("T-") else noun.lower()
        desc_mat = mat.lower() + (" fabric" if mat in _ADJECTIVE_MATERIALS else "")
        p_desc[p] = f"{adj} {desc_noun} in {desc_mat} with {features[f1]} and {features[f2]}. {phrase}"
        price_steps = np.arange(lo, hi + 1, 10)
        p_price[p] = float(price_steps[int(u[p, 8] * price_steps.size)]) - 0.1  # e.g. 199.9

    # articles: colour and appearance per variant -----------------------------------------------
    a_style = p_style[product_of]
    palette_pos = np.empty(n_articles, dtype=np.int64)
    appear_pos = np.empty(n_articles, dtype=np.int64)
    # variant k of a product takes the k-th colour of a product-specific rotation of the palette,
    # with typical colours (first in the palette) more likely for the first variant
    start_col = np.floor(rng.power(0.5, n_products) * 6).astype(np.int64)  # skewed to 0
    for s, st in enumerate(_STYLES):
        m = a_style == s
        palette_pos[m] = (start_col[product_of[m]] + variant_rank[m]) % len(st.colours)
        k = len(st.appearances)
        w = 1.0 / np.arange(1, k + 1) ** 1.2
        appear_pos[m] = rng.choice(k, size=int(m.sum()), p=w / w.sum())
    suffix_steps = rng.integers(1, 16, size=n_articles)
    suffix = np.cumsum(suffix_steps)
    suffix = suffix - (suffix[first_of_product] - suffix_steps[first_of_product])[product_of]
    article_num = p_code[product_of] * 1000 + suffix
    article_id = np.char.zfill(article_num.astype(str), 10).astype(object)

    # popularity over time: base (Zipf x variant share) x log-linear drift x launch boost ---------
    variant_share = rng.dirichlet(np.ones(6) * 0.8, size=n_products)
    v_raw = variant_share[product_of, variant_rank] + 0.05
    v_norm = np.bincount(product_of, weights=v_raw, minlength=n_products)
    a_base = p_base[product_of] * v_raw / v_norm[product_of]
    a_drift = rng.normal(0.0, trend_strength, n_articles) if trend_strength > 0 else np.zeros(n_articles)
    a_launch = launch[product_of]

    rows = []
    a_dept = p_dept[product_of]
    a_type = p_type[product_of]
    for i in range(n_articles):  # per article (table rows); cheap at catalogue sizes
        st = _STYLES[a_style[i]]
        dept = st.depts[a_dept[i]]
        tname, group, *_ = _PRODUCT_TYPES[a_type[i]]
        col = _COLOURS[st.colours[palette_pos[i]]]
        appearance = st.appearances[appear_pos[i]]
        idx_name, idx_group_no, idx_group_name = _INDEXES[dept.index_code]
        p = product_of[i]
        name = f"{p_adj[p]} {p_mat[p]} {p_noun[p]}"
        rows.append(
            (
                article_id[i], int(p_code[p]), name, int(a_type[i]), tname, group,
                _APPEARANCES[appearance], appearance, col[0], col[1], col[2], col[3], col[4], col[5],
                dept.no, dept.name, dept.index_code, idx_name, idx_group_no, idx_group_name,
                dept.section_no, dept.section_name, dept.garment_group_no, dept.garment_group_name,
                p_desc[p],
            )
        )
    frame = pl.DataFrame(rows, schema=ARTICLE_COLUMNS, orient="row")
    return {
        "frame": frame,
        "article_id": article_id,
        "style": a_style,
        "product": product_of,
        "first_of_product": first_of_product,
        "n_var": n_var,
        "base": a_base,
        "drift": a_drift,
        "launch": a_launch,
        "price": p_price[product_of] / 5900.0,  # SEK price scaled like the Kaggle prices (0.0x)
    }


def _draw_customers(
    rng: np.random.Generator,
    n_customers: int,
    n_transactions: int,
    taste_concentration: float,
    repeat_rate: float,
) -> dict[str, Any]:
    n_styles = len(_STYLES)
    share = np.array([s.share for s in _STYLES])
    share = share / share.sum()
    taste = rng.dirichlet(np.maximum(share * taste_concentration, 1e-3), size=n_customers)
    taste = np.where(np.isfinite(taste), taste, 0.0)
    bad = taste.sum(axis=1) <= 0
    if bad.any():  # extreme concentrations can underflow: fall back to one style
        taste[bad] = np.eye(n_styles)[rng.choice(n_styles, size=int(bad.sum()), p=share)]
    taste = taste / taste.sum(axis=1, keepdims=True)
    main_style = taste.argmax(axis=1)

    # activity: heavy-tailed purchase counts, at least one each when there are enough purchases
    activity = rng.lognormal(0.0, 1.0, n_customers)
    activity /= activity.sum()
    if n_transactions >= n_customers:
        counts = 1 + rng.multinomial(n_transactions - n_customers, activity)
    else:
        counts = rng.multinomial(n_transactions, activity)

    # repeat-purchase rate, scaled by the styles the customer buys (basics are re-bought)
    style_repeat = np.array([s.repeat for s in _STYLES])
    rep = rng.beta(2.0, 8.0, n_customers) / 0.2 * repeat_rate * (taste @ style_repeat)
    rep = np.clip(rep, 0.0, 0.95)

    ids = rng.bytes(32 * n_customers).hex()
    customer_id = np.array([ids[64 * i : 64 * (i + 1)] for i in range(n_customers)], dtype=object)
    if len(set(customer_id)) != n_customers:  # pragma: no cover  (2^-256 chance)
        raise RuntimeError("customer id collision")
    id_rank = np.empty(n_customers, dtype=np.int64)
    id_rank[np.argsort(customer_id, kind="stable")] = np.arange(n_customers)

    # joining day, as a share of the period (a quarter of the customers join during it)
    joined = np.where(rng.random(n_customers) < 0.25, rng.random(n_customers), 0.0)
    return {
        "taste": taste,
        "main_style": main_style,
        "counts": counts,
        "repeat": rep,
        "customer_id": customer_id,
        "id_rank": id_rank,
        "joined": joined,
    }


def _customer_frame(rng: np.random.Generator, cust: dict[str, Any], n_customers: int) -> pl.DataFrame:
    main = cust["main_style"]
    counts = cust["counts"]
    age_mean = np.array([s.age[0] for s in _STYLES])[main]
    age_sd = np.array([s.age[1] for s in _STYLES])[main]
    age = np.clip(np.round(rng.normal(age_mean, age_sd)), 16, 95).astype(np.float64)
    age_missing = rng.random(n_customers) < 0.01

    young_style = np.isin(main, _young_style_indices())
    low_activity = counts <= 2
    p_pre = 0.03 + 0.12 * young_style + 0.10 * low_activity
    r = rng.random(n_customers)
    club = np.where(r < p_pre, "PRE-CREATE", np.where(r < p_pre + 0.004, "LEFT CLUB", "ACTIVE")).astype(object)
    club[rng.random(n_customers) < 0.004] = None

    # fashion news: more likely for older and more active customers
    logit = -1.6 + 0.035 * (age - 30.0) + 0.25 * np.log1p(counts) + 0.6 * (club == "ACTIVE")
    p_news = 1.0 / (1.0 + np.exp(-logit))
    r = rng.random(n_customers)
    news = np.where(r < p_news, "Regularly", "NONE").astype(object)
    news[(r < p_news) & (rng.random(n_customers) < 0.002)] = "Monthly"
    news[rng.random(n_customers) < 0.01] = None
    fn = np.where(np.isin(news, ["Regularly", "Monthly"]), 1.0, np.nan)
    active = np.where((fn == 1.0) & (rng.random(n_customers) < 0.97), 1.0, np.nan)

    # postal codes: a Zipf-distributed pool, regions loosely tied to the main style
    n_postal = max(8, n_customers // 6)
    pool_ids = rng.bytes(32 * n_postal).hex()
    pool = np.array([pool_ids[64 * i : 64 * (i + 1)] for i in range(n_postal)], dtype=object)
    ranks = np.floor(rng.pareto(1.2, n_customers) * 3).astype(np.int64)
    postal = pool[(ranks + main * 7) % n_postal]

    return pl.DataFrame(
        {
            "customer_id": cust["customer_id"],
            "FN": fn,
            "Active": active,
            "club_member_status": club,
            "fashion_news_frequency": news,
            "age": np.where(age_missing, np.nan, age),
            "postal_code": postal,
        },
        schema=CUSTOMER_COLUMNS,
        nan_to_null=True,
    )


def _draw_transactions(
    rng: np.random.Generator,
    cat: dict[str, Any],
    cust: dict[str, Any],
    n_transactions: int,
    start: _dt.date,
    days: int,
    impulse_rate: float,
) -> dict[str, np.ndarray]:
    n_styles = len(_STYLES)
    n_items = cat["style"].size
    counts = cust["counts"]
    customer = np.repeat(np.arange(counts.size), counts)
    n = customer.size
    assert n == n_transactions
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])[customer]  # index of customer's first row
    is_first = np.arange(n) == first

    # --- days: uniform over the customer's active window, sorted, grouped into shopping days ----
    join_day = np.floor(cust["joined"] * days)[customer]
    day = np.floor(join_day + rng.random(n) * (days - join_day)).astype(np.int64)
    day = np.minimum(day, days - 1)
    order = np.lexsort((day, customer))
    day = day[order]  # customer is already grouped, so only days move
    same_day_as_prev = (rng.random(n) < 0.45) & ~is_first
    day = _forward_fill(day, ~same_day_as_prev)
    same_day = np.zeros(n, dtype=bool)
    same_day[1:] = (day[1:] == day[:-1]) & ~is_first[1:]

    # --- style per purchase: taste x season, impulse buys, sticky within a shopping day ---------
    doy = np.array([(start + _dt.timedelta(days=int(d))).timetuple().tm_yday for d in range(days)])
    peak = np.array([s.season_peak for s in _STYLES])
    amp = np.array([s.season_amp for s in _STYLES])
    season = np.exp(amp[None, :] * np.cos(2 * np.pi * (doy[:, None] - peak[None, :]) / 365.25))  # days x S
    share = np.array([s.share for s in _STYLES])
    share = share / share.sum()
    probs = cust["taste"][customer] * season[day]
    impulse = rng.random(n) < impulse_rate
    probs[impulse] = (share[None, :] * season[day[impulse]])
    style = _categorical(rng, probs)
    keep_style = same_day & (rng.random(n) < 0.7)
    style = _forward_fill(style, ~keep_style)

    # --- article given (style, week): popularity at that time ------------------------------------
    n_weeks = (days + 6) // 7
    t_mid = np.minimum(np.arange(n_weeks) * 7 + 3.5, days - 0.5)  # week midpoints
    age = t_mid[:, None] - cat["launch"][None, :]  # weeks x items
    live = age >= 0
    log_w = np.log(cat["base"])[None, :] + cat["drift"][None, :] * (t_mid[:, None] / days - 0.5)
    boost = 1.0 + 2.0 * np.exp(-np.maximum(age, 0.0) / 21.0) * (cat["launch"] >= 0)[None, :]
    w_time = np.where(live, np.exp(log_w) * boost, 0.0)  # weeks x items
    week = day // 7
    # per style: (weeks x the style's articles) offset CDFs; a week in which a style has no live
    # article falls back to all live articles (the global table)
    styles_cdf: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    for s in range(n_styles):
        members = np.flatnonzero(cat["style"] == s)
        table = w_time[:, members]
        empty = table.sum(axis=1) <= 0
        table[empty] = 1.0  # placeholder rows, never drawn from
        styles_cdf.append((members, empty, _row_cdf(table) if members.size else None))
    live_week = w_time.sum(axis=1) > 0
    global_cdf = _row_cdf(np.where(live_week[:, None], w_time, 1.0))

    def draw(rows: np.ndarray) -> np.ndarray:
        out = np.empty(rows.size, dtype=np.int64)
        st, wk = style[rows], week[rows]
        for s in np.unique(st):
            members, empty, cdf = styles_cdf[s]
            in_style = np.flatnonzero(st == s)
            fallback = empty[wk[in_style]]
            ok, fb = in_style[~fallback], in_style[fallback]
            if ok.size:
                out[ok] = members[_categorical_rows(rng, cdf, wk[ok])]
            if fb.size:
                out[fb] = _categorical_rows(rng, global_cdf, wk[fb])
        return out

    item = draw(np.arange(n))
    # a customer rarely buys the same article twice by chance: redraw accidental duplicates (the
    # deliberate repeats come below)
    for _ in range(3):
        key = customer.astype(np.int64) * n_items + item
        _, first_idx, inverse = np.unique(key, return_index=True, return_inverse=True)
        dup = np.flatnonzero(first_idx[inverse] != np.arange(n))
        if dup.size == 0:
            break
        item[dup] = draw(dup)

    # --- another colour of the product just bought (same day) -----------------------------------
    sibling = same_day & (rng.random(n) < 0.12)
    prev_item = np.roll(item, 1)
    prod = cat["product"][prev_item]
    sib = cat["first_of_product"][prod] + np.floor(rng.random(n) * cat["n_var"][prod]).astype(np.int64)
    item = np.where(sibling, sib, item)

    # --- repeat purchases: re-buy an item bought earlier ----------------------------------------
    repeat = ~is_first & (rng.random(n) < cust["repeat"][customer])
    pos = np.arange(n)
    src = first + np.floor(rng.random(n) * (pos - first)).astype(np.int64)
    src = np.where(repeat, src, pos)
    while True:  # resolve chains (a repeat of a repeat): src < pos, so this ends, in a few steps
        nxt = item[src]
        if np.array_equal(nxt, item):
            break
        item = nxt

    # --- price and channel ------------------------------------------------------------------------
    discount = np.where(rng.random(n) < 0.15, rng.choice([0.5, 0.6, 0.7, 0.8], size=n), 1.0)
    price = np.round(cat["price"][item] * discount, 6)
    young_taste = cust["taste"][:, _young_style_indices()].sum(axis=1)
    online = np.clip(0.55 + 0.35 * young_taste + rng.normal(0, 0.2, counts.size), 0.02, 0.98)
    channel = np.where(rng.random(n) < online[customer], 2, 1)
    return {"customer": customer, "day": day, "item": item, "price": price, "channel": channel, "style": style}


def _young_style_indices() -> list[int]:
    return [i for i, s in enumerate(_STYLES) if s.name in _YOUNG_STYLES]


def _forward_fill(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """values[i] := values[last j <= i with keep[j]] (keep[0] must be True)."""
    idx = np.where(keep, np.arange(values.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return values[idx]


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of an (n, k) matrix of unnormalised probabilities."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _row_cdf(table: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of an (unnormalised, rows not all zero) table, offset so
    that row r spans (r, r + 1]: the input of :func:`_categorical_rows`."""
    cum = np.cumsum(table, axis=1)
    cum /= cum[:, -1:]
    cum += np.arange(table.shape[0])[:, None]
    return cum


def _categorical_rows(rng: np.random.Generator, cdf: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per entry of ``rows`` from the distribution in row ``rows[j]`` of a table whose
    offset CDF (:func:`_row_cdf`) is ``cdf``. Zero-probability columns are never drawn."""
    k = cdf.shape[1]
    u = rng.random(rows.size) * (1.0 - 1e-9)  # r + u must stay below r + 1 after rounding
    pos = np.searchsorted(cdf.ravel(), rows + u, side="right")
    return np.clip(pos - rows * k, 0, k - 1)


# ------------------------------------------------------------------------------------------------
# conversion and files


def to_raw_data(data: SyntheticHM, source: dict[str, Any] | None = None) -> RawData:
    """The canonical :class:`RawData` of a synthetic (or any H&M-schema) data set.

    Interactions: ``user_id`` = customer_id, ``item_id`` = article_id, ``timestamp`` = t_dat as
    unix seconds (midnight UTC), ``weight`` = 1.0, in the transactions' row order. Items: ``item_id``,
    ``name`` (= prod_name) and the other article columns. Users: ``user_id`` and the customer columns.
    """
    tx = data.transactions
    interactions = tx.select(
        pl.col("customer_id").alias(Columns.UserId),
        pl.col("article_id").alias(Columns.ItemId),
        (pl.col("t_dat").str.to_date("%Y-%m-%d").cast(pl.Int64) * 86_400).alias(Columns.Timestamp),
        pl.lit(1.0, dtype=pl.Float32).alias(Columns.Weight),
    )
    items = data.articles.rename({"article_id": Columns.ItemId, "prod_name": Columns.Name})
    rest = [c for c in items.columns if c not in (Columns.ItemId, Columns.Name)]
    items = items.select([Columns.ItemId, Columns.Name, *rest])
    users = data.customers.rename({"customer_id": Columns.UserId})
    return RawData(interactions=interactions, items=items, users=users, source=dict(source or {}), explicit=False)


def write_hm_csv(data: SyntheticHM, out_dir: str | Path) -> dict[str, Path]:
    """Write ``articles.csv``, ``customers.csv`` and ``transactions_train.csv`` like the Kaggle files.

    ``article_id`` keeps its leading zero; missing values are empty fields. Returns the paths by
    table name (``"articles"``, ``"customers"``, ``"transactions"``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for table, columns in (
        ("articles", ARTICLE_COLUMNS),
        ("customers", CUSTOMER_COLUMNS),
        ("transactions", TRANSACTION_COLUMNS),
    ):
        frame: pl.DataFrame = getattr(data, table).select(list(columns))
        path = out / HM_FILES[table]
        frame.write_csv(path, null_value="")
        paths[table] = path
    return paths


_SOURCE_DEFAULTS = {
    "n_customers": 4000,
    "n_articles": 1500,
    "n_transactions": 80_000,
    "start": "2020-01-01",
    "days": 182,
    "seed": 0,
}


@register_source("synthetic")
def read_synthetic(
    path: str | Path | None = None,
    *,
    on_bad_rows: str = "error",
    n_customers: int = 4000,
    n_articles: int = 1500,
    n_transactions: int = 80_000,
    start: str = "2020-01-01",
    days: int = 182,
    seed: int = 0,
    **generator_options: Any,
) -> RawData:
    """Generate an H&M-like data set (see :func:`generate_hm`) and return it as :class:`RawData`.

    ``path`` is ignored (nothing is read); ``on_bad_rows`` is accepted for a uniform source
    signature (generated rows are always well formed). Other keyword options go to
    :func:`generate_hm` (``taste_concentration``, ``zipf_exponent``, ``impulse_rate``,
    ``repeat_rate``, ``new_article_share``, ``trend_strength``).
    """
    if on_bad_rows not in ("error", "skip"):
        raise ConfigError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
    allowed = {
        "taste_concentration", "zipf_exponent", "impulse_rate", "repeat_rate", "new_article_share", "trend_strength"
    }
    unknown = sorted(set(generator_options) - allowed)
    if unknown:
        raise SyntheticParamError(
            f"synthetic data: unknown option(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(allowed | set(_SOURCE_DEFAULTS)))}"
        )
    data = generate_hm(
        n_customers=n_customers,
        n_articles=n_articles,
        n_transactions=n_transactions,
        start=start,
        days=days,
        seed=seed,
        **generator_options,
    )
    source = {"name": "synthetic", "generator": "hm", **data.params}
    return to_raw_data(data, source=source)
