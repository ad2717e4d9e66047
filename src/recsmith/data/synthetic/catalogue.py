"""The catalogue vocabulary of the synthetic H&M data: product types, colours, appearances, index
codes, and the *styles* that tie them together (codes and names as in the real H&M files).

A :class:`Style` owns departments (and through them index, section and garment group), product
types, a colour palette, graphical appearances and the words of names and descriptions, so an
article's attributes and text reveal its style. Customers' tastes are mixtures over :data:`STYLES`.
"""

from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------------------------------------------
# catalogue vocabulary (codes and names as in the real H&M files)

# product_type_no -> (product_type_name, product_group_name, name nouns, materials, features, SEK price range)
PRODUCT_TYPES: dict[int, tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[int, int]]] = {
    255: (
        "T-shirt",
        "Garment Upper body",
        ("T-shirt", "Tee"),
        ("Cotton", "Jersey", "Slub jersey", "Modal"),
        ("a round neckline", "short sleeves", "a rounded hem", "dropped shoulders", "a chest pocket"),
        (79, 199),
    ),
    253: (
        "Vest top",
        "Garment Upper body",
        ("Vest top", "Strap top", "Tank top"),
        ("Jersey", "Rib-knit", "Cotton"),
        ("narrow shoulder straps", "a deep neckline", "a racer back", "a straight-cut hem"),
        (59, 149),
    ),
    254: (
        "Top",
        "Garment Upper body",
        ("Top", "Crop top", "Wrap top"),
        ("Jersey", "Satin", "Crêpe", "Rib-knit"),
        ("a V-neck", "puff sleeves", "a tie at the front", "a cropped cut", "smocking at the back"),
        (99, 249),
    ),
    252: (
        "Sweater",
        "Garment Upper body",
        ("Jumper", "Sweater", "Sweatshirt"),
        ("Wool-blend", "Cashmere-blend", "Cotton", "Sweatshirt"),
        ("ribbing around the neckline", "long raglan sleeves", "dropped shoulders", "a soft brushed inside"),
        (199, 499),
    ),
    245: (
        "Cardigan",
        "Garment Upper body",
        ("Cardigan",),
        ("Wool-blend", "Mohair-blend", "Fine-knit", "Cable-knit"),
        ("buttons down the front", "long sleeves", "ribbed cuffs and hem", "front pockets"),
        (249, 499),
    ),
    258: (
        "Blouse",
        "Garment Upper body",
        ("Blouse",),
        ("Viscose", "Chiffon", "Crêpe", "Satin"),
        ("a collar", "buttons down the front", "long balloon sleeves", "a frill trim", "covered buttons"),
        (199, 399),
    ),
    259: (
        "Shirt",
        "Garment Upper body",
        ("Shirt", "Overshirt"),
        ("Linen", "Oxford", "Poplin", "Flannel"),
        ("a turn-down collar", "a classic front", "a yoke at the back", "a chest pocket", "a rounded hem"),
        (199, 399),
    ),
    272: (
        "Trousers",
        "Garment Lower body",
        ("Trousers", "Chinos", "Joggers"),
        ("Twill", "Linen", "Wool-blend", "Crêpe"),
        ("a high waist", "side pockets", "pressed pleats", "an elasticated drawstring waist", "tapered legs"),
        (199, 499),
    ),
    275: (
        "Skirt",
        "Garment Lower body",
        ("Skirt", "Midi skirt"),
        ("Satin", "Pleated", "Twill", "Crêpe"),
        ("a high waist", "a concealed zip in the side", "a flared hem", "a slit at the front"),
        (149, 349),
    ),
    265: (
        "Dress",
        "Garment Full body",
        ("Dress", "Midi dress", "Shirt dress"),
        ("Viscose", "Crêpe", "Jersey", "Satin"),
        ("a V-neck", "a tie belt at the waist", "short puff sleeves", "a flared skirt", "a smocked bodice"),
        (199, 599),
    ),
    264: (
        "Blazer",
        "Garment Upper body",
        ("Blazer",),
        ("Wool-blend", "Twill", "Linen-blend"),
        ("notch lapels", "flap front pockets", "a single-breasted fastening", "shoulder pads"),
        (399, 799),
    ),
    263: (
        "Coat",
        "Garment Upper body",
        ("Coat", "Trenchcoat"),
        ("Wool-blend", "Felted", "Cotton twill"),
        ("a double-breasted fastening", "a detachable tie belt", "welt pockets", "a vent at the back"),
        (599, 1299),
    ),
    262: (
        "Jacket",
        "Garment Upper body",
        ("Jacket", "Bomber jacket", "Puffer jacket"),
        ("Nylon", "Padded", "Corduroy", "Teddy fleece"),
        ("a zip down the front", "a stand-up collar", "ribbed cuffs", "zipped side pockets", "a lined hood"),
        (299, 799),
    ),
    308: (
        "Hoodie",
        "Garment Upper body",
        ("Hoodie",),
        ("Sweatshirt", "Cotton-blend", "Fleece"),
        ("a lined drawstring hood", "a kangaroo pocket", "ribbed cuffs and hem", "a soft brushed inside"),
        (199, 399),
    ),
    306: (
        "Bra",
        "Underwear",
        ("Bra", "Bralette", "Push-up bra"),
        ("Lace", "Microfibre", "Mesh"),
        (
            "underwired moulded cups",
            "adjustable shoulder straps",
            "a hook-and-eye fastening at the back",
            "a scalloped trim",
        ),
        (149, 349),
    ),
    286: (
        "Underwear bottom",
        "Underwear",
        ("Briefs", "Thong", "Hipster briefs"),
        ("Lace", "Microfibre", "Cotton"),
        ("a low waist", "a lined gusset", "narrow sides", "a lace trim"),
        (49, 149),
    ),
    273: (
        "Leggings/Tights",
        "Garment Lower body",
        ("Leggings", "Sports tights"),
        ("Fast-drying", "Jersey", "Recycled polyester"),
        ("a wide waistband", "a concealed key pocket", "flatlock seams", "a high waist"),
        (149, 349),
    ),
    274: (
        "Shorts",
        "Garment Lower body",
        ("Shorts", "Cycling shorts"),
        ("Fast-drying", "Twill", "Jersey", "Linen"),
        ("an elasticated waist", "side pockets", "short legs", "an inner brief"),
        (99, 249),
    ),
    297: (
        "Pyjama set",
        "Nightwear",
        ("Pyjamas", "Pyjama set"),
        ("Satin", "Soft jersey", "Flannel"),
        ("a top with a collar", "piping on the edges", "an elasticated waist", "long wide legs"),
        (199, 399),
    ),
    296: (
        "Pyjama bottom",
        "Nightwear",
        ("Pyjama bottoms",),
        ("Soft jersey", "Flannel", "Cotton"),
        ("an elasticated waist", "a drawstring", "long straight legs"),
        (99, 199),
    ),
    298: (
        "Bikini top",
        "Swimwear",
        ("Bikini top",),
        ("Textured", "Shimmering", "Recycled"),
        ("padded cups", "ties at the back", "a triangle cut", "an underwired shape"),
        (99, 249),
    ),
    59: (
        "Swimwear bottom",
        "Swimwear",
        ("Bikini bottoms",),
        ("Textured", "Shimmering", "Recycled"),
        ("a high leg", "ties at the sides", "a lined front", "a Brazilian cut"),
        (99, 199),
    ),
    57: (
        "Swimsuit",
        "Swimwear",
        ("Swimsuit",),
        ("Textured", "Shimmering", "Recycled"),
        ("a low-cut back", "lined cups", "adjustable straps", "a high leg"),
        (199, 399),
    ),
    91: (
        "Sandals",
        "Shoes",
        ("Sandals",),
        ("Leather", "Imitation leather", "Braided"),
        ("an adjustable ankle strap", "a padded footbed", "a block heel"),
        (199, 499),
    ),
    87: (
        "Boots",
        "Shoes",
        ("Boots", "Ankle boots"),
        ("Leather", "Suede", "Imitation leather"),
        ("a chunky sole", "a zip in the side", "a lug sole", "elastic side panels"),
        (399, 899),
    ),
    90: (
        "Pumps",
        "Shoes",
        ("Pumps", "Court shoes"),
        ("Imitation suede", "Patent", "Satin"),
        ("a pointed toe", "a covered heel", "a padded insole"),
        (299, 599),
    ),
    94: (
        "Sneakers",
        "Shoes",
        ("Trainers", "Sneakers"),
        ("Canvas", "Mesh", "Imitation leather"),
        ("lacing at the front", "a padded tongue", "a chunky rubber sole"),
        (249, 599),
    ),
    302: (
        "Socks",
        "Socks & Tights",
        ("Socks", "Ankle socks"),
        ("Fine-knit", "Terry", "Cotton-blend"),
        ("ribbed tops", "a silicone trim at the heel", "reinforced toes"),
        (39, 99),
    ),
    304: (
        "Underwear Tights",
        "Socks & Tights",
        ("Tights", "Stay-ups"),
        ("Matt", "Semi-shiny", "Opaque"),
        ("an elasticated waist", "a shaping top", "reinforced toes", "a lace trim at the top"),
        (49, 149),
    ),
    256: (
        "Bodysuit",
        "Garment Upper body",
        ("Bodysuit", "Romper"),
        ("Organic cotton", "Soft jersey", "Rib-knit"),
        ("press-studs at the crotch", "an envelope neckline", "long sleeves", "a printed motif"),
        (79, 179),
    ),
    270: (
        "Garment Set",
        "Garment Full body",
        ("Set", "Two-piece set"),
        ("Organic cotton", "Soft jersey", "Fleece"),
        ("a top and matching trousers", "an elasticated waist", "ribbed cuffs", "a printed motif"),
        (149, 299),
    ),
    70: (
        "Earring",
        "Accessories",
        ("Earrings", "Hoop earrings"),
        ("Metal", "Sterling silver", "Gold-plated"),
        ("a post closure", "a hinged hoop", "faceted stones", "pendants"),
        (49, 149),
    ),
    77: (
        "Necklace",
        "Accessories",
        ("Necklace", "Chain necklace"),
        ("Metal", "Sterling silver", "Gold-plated"),
        ("a pendant", "a lobster clasp", "an extension chain", "beads"),
        (79, 199),
    ),
    73: (
        "Hair string",
        "Accessories",
        ("Hair ties", "Scrunchie"),
        ("Satin", "Velvet", "Elastic"),
        ("a soft elastic", "a draped finish", "assorted colours"),
        (29, 79),
    ),
    80: (
        "Scarf",
        "Accessories",
        ("Scarf",),
        ("Wool-blend", "Woven", "Knitted"),
        ("fringes at the short sides", "a soft finish", "a check pattern"),
        (99, 249),
    ),
    67: (
        "Belt",
        "Accessories",
        ("Belt", "Waist belt"),
        ("Leather", "Imitation leather", "Woven"),
        ("a metal buckle", "adjustable length", "a stitched edge"),
        (99, 249),
    ),
    66: (
        "Bag",
        "Accessories",
        ("Bag", "Shoulder bag"),
        ("Imitation leather", "Canvas", "Quilted"),
        ("a zip at the top", "an adjustable shoulder strap", "an inner compartment"),
        (199, 499),
    ),
    75: (
        "Hat/beanie",
        "Accessories",
        ("Beanie", "Hat"),
        ("Rib-knit", "Wool-blend", "Felted"),
        ("a turned-up brim", "a soft lining", "a pompom"),
        (79, 199),
    ),
}

# (colour_group_code, colour_group_name, perceived_colour_value_id, _name, perceived_colour_master_id, _name)
COLOURS: dict[str, tuple[int, str, int, str, int, str]] = {
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

APPEARANCES: dict[str, int] = {
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
INDEXES: dict[str, tuple[str, int, str]] = {
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
class Dept:
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
class Style:
    name: str
    share: float  # share of customers' taste mass and of the catalogue
    age: tuple[float, float]  # mean, sd of the age of customers who mainly shop this style
    depts: tuple[Dept, ...]
    colours: tuple[str, ...]  # palette, most typical first
    appearances: tuple[str, ...]  # most typical first
    adjectives: tuple[str, ...]
    phrases: tuple[str, ...]  # closing sentences of detail_desc
    season_peak: int = 0  # day of year with the most demand
    season_amp: float = 0.0  # log-amplitude of the seasonal swing
    repeat: float = 1.0  # multiplier on the customer's repeat-purchase rate


STYLES: tuple[Style, ...] = (
    Style(
        "everyday_basics",
        0.12,
        (38, 10),
        (
            Dept(1676, "Jersey Basic", "A", 16, "Womens Everyday Basics", 1002, "Jersey Basic", (255, 253, 254)),
            Dept(1646, "Knitwear Basic", "A", 16, "Womens Everyday Basics", 1003, "Knitwear", (252, 245)),
        ),
        ("Black", "White", "Grey", "Light Beige", "Off White", "Dark Blue"),
        ("Solid", "Melange", "Stripe"),
        ("Essential", "Basic", "Soft", "Classic", "Fitted"),
        (
            "A wardrobe staple in soft, easy-care fabric.",
            "Made for everyday wear and easy layering.",
            "Simple, timeless and comfortable all day.",
        ),
        repeat=1.8,
    ),
    Style(
        "tailoring",
        0.09,
        (44, 9),
        (
            Dept(1515, "Blouse", "A", 11, "Womens Tailoring", 1010, "Blouses", (258, 259)),
            Dept(1717, "Trouser", "A", 11, "Womens Tailoring", 1009, "Trousers", (272,)),
            Dept(1414, "Skirt", "A", 11, "Womens Tailoring", 1012, "Skirts", (275,)),
            Dept(1313, "Dress", "A", 11, "Womens Tailoring", 1013, "Dresses Ladies", (265,)),
            Dept(1201, "Outwear", "A", 19, "Womens Jackets", 1007, "Outdoor", (264, 263)),
        ),
        ("Black", "Dark Blue", "Light Beige", "White", "Dark Grey", "Beige"),
        ("Solid", "Check", "Stripe"),
        ("Tailored", "Straight", "Pleated", "Structured", "Slim"),
        (
            "Clean lines for the office and beyond.",
            "A sharp, tailored silhouette.",
            "Smart enough for work, easy enough for the weekend.",
        ),
    ),
    Style(
        "divided_trend",
        0.11,
        (21, 4),
        (
            Dept(1640, "Tops Fancy Jersey", "D", 53, "Divided Collection", 1005, "Jersey Fancy", (254, 255, 253)),
            Dept(1344, "Dresses", "D", 53, "Divided Collection", 1013, "Dresses Ladies", (265,)),
            Dept(1444, "Skirts", "D", 53, "Divided Collection", 1012, "Skirts", (275,)),
            Dept(1747, "Trousers", "D", 53, "Divided Collection", 1009, "Trousers", (272,)),
        ),
        ("Light Pink", "Black", "White", "Light Orange", "Yellow", "Light Turquoise"),
        ("All over pattern", "Placement print", "Front print", "Solid"),
        ("Cropped", "Oversized", "Ribbed", "Printed", "Flared"),
        (
            "Bold and playful, made for going out.",
            "A statement piece with a festival feel.",
            "Trend-led styling for a fresh look.",
        ),
        season_peak=150,
        season_amp=0.25,
    ),
    Style(
        "denim_street",
        0.09,
        (25, 6),
        (
            Dept(
                1772,
                "Denim Trousers",
                "D",
                57,
                "Ladies Denim",
                1016,
                "Trousers Denim",
                (272, 274),
                ("Denim", "Stretch denim", "Washed denim"),
            ),
            Dept(
                5672,
                "Denim trousers",
                "F",
                56,
                "Denim Men",
                1016,
                "Trousers Denim",
                (272,),
                ("Denim", "Rigid denim", "Washed denim"),
            ),
            Dept(1643, "Basic 1", "D", 51, "Divided Basics", 1002, "Jersey Basic", (308, 255)),
            Dept(1244, "Outdoor/Blazers", "D", 53, "Divided Collection", 1007, "Outdoor", (262,)),
        ),
        ("Blue", "Dark Blue", "Light Blue", "Black", "Grey", "Greenish Khaki"),
        ("Denim", "Solid", "Treatment"),
        ("Relaxed", "Baggy", "Skinny", "Washed", "Vintage"),
        (
            "Streetwear with a relaxed, lived-in feel.",
            "Five-pocket styling with a worn-in wash.",
            "An urban look built on denim.",
        ),
        repeat=0.8,
    ),
    Style(
        "sport",
        0.07,
        (30, 7),
        (
            Dept(8316, "Ladies Sport Bras", "S", 5, "Ladies H&M Sport", 1005, "Jersey Fancy", (306, 253)),
            Dept(8310, "Ladies Sport Bottoms", "S", 5, "Ladies H&M Sport", 1005, "Jersey Fancy", (273, 274)),
            Dept(8396, "Ladies Sport Acc", "S", 5, "Ladies H&M Sport", 1019, "Accessories", (66, 302)),
        ),
        ("Black", "Dark Grey", "Dark Turquoise", "Light Pink", "Dark Purple"),
        ("Solid", "Colour blocking", "Melange"),
        ("Seamless", "Training", "Running", "High-support", "Breathable"),
        (
            "Sports fabric that wicks away moisture.",
            "Made for training, yoga and running.",
            "Fast-drying functional fabric with stretch.",
        ),
        season_peak=100,
        season_amp=0.2,
    ),
    Style(
        "lingerie",
        0.09,
        (33, 9),
        (
            Dept(1338, "Expressive Lingerie", "B", 61, "Womens Lingerie", 1017, "Under-, Nightwear", (306, 286)),
            Dept(1334, "Casual Lingerie", "B", 61, "Womens Lingerie", 1017, "Under-, Nightwear", (306, 286)),
            Dept(3709, "Nightwear", "B", 62, "Womens Nightwear, Socks & Tigh", 1017, "Under-, Nightwear", (297, 296)),
        ),
        ("Black", "Light Pink", "White", "Dark Red", "Light Beige"),
        ("Lace", "Solid", "All over pattern"),
        ("Lace", "Soft", "Padded", "Delicate", "Satin"),
        (
            "Delicate lingerie with a feminine finish.",
            "Soft against the skin for all-day comfort.",
            "Designed to lift, shape and flatter.",
        ),
        repeat=1.5,
    ),
    Style(
        "swim",
        0.05,
        (31, 8),
        (
            Dept(4242, "Swimwear", "B", 60, "Womens Swimwear, beachwear", 1018, "Swimwear", (298, 59, 57)),
            Dept(3527, "Flats", "C", 64, "Womens Shoes", 1020, "Shoes", (91,)),
        ),
        ("Black", "Dark Blue", "Yellow", "Red", "Light Turquoise", "Light Orange"),
        ("All over pattern", "Stripe", "Solid"),
        ("Beach", "Tropical", "Summer", "Cut-out", "Sunny"),
        (
            "Ready for the beach and the pool.",
            "A summer essential for sunny days.",
            "Quick-drying fabric for holidays by the sea.",
        ),
        season_peak=175,
        season_amp=1.1,
    ),
    Style(
        "menswear",
        0.09,
        (36, 10),
        (
            Dept(5878, "Knitwear", "F", 20, "Contemporary Smart", 1003, "Knitwear", (252,)),
            Dept(8617, "Shirt S&T", "F", 23, "Men Suits & Tailoring", 1011, "Shirts", (259,)),
            Dept(5686, "Trouser", "F", 20, "Contemporary Smart", 1009, "Trousers", (272,)),
            Dept(5848, "Jersey Fancy", "F", 21, "Contemporary Casual", 1005, "Jersey Fancy", (255, 308)),
            Dept(5868, "Basics", "F", 26, "Men Underwear", 1002, "Jersey Basic", (286, 302)),
        ),
        ("Dark Blue", "Black", "Grey", "White", "Greenish Khaki", "Dark Green"),
        ("Solid", "Melange", "Check"),
        ("Regular Fit", "Slim Fit", "Relaxed Fit", "Smart", "Casual"),
        (
            "A modern menswear essential.",
            "Easy to wear and easy to combine.",
            "Classic menswear with a contemporary fit.",
        ),
        repeat=1.3,
    ),
    Style(
        "kids",
        0.08,
        (37, 6),
        (
            Dept(7616, "Kids Girl Jersey Fancy", "H", 76, "Kids Girl", 1005, "Jersey Fancy", (255, 265, 273)),
            Dept(7648, "Kids Boy Jersey Fancy", "H", 46, "Kids Boy", 1005, "Jersey Fancy", (255, 308, 274)),
            Dept(8716, "Young Girl Jersey Fancy", "I", 77, "Young Girl", 1005, "Jersey Fancy", (254, 265, 272)),
            Dept(8748, "Young Boy Jersey Fancy", "I", 47, "Young Boy", 1005, "Jersey Fancy", (255, 308, 272)),
        ),
        ("Light Pink", "Blue", "Red", "Yellow", "White", "Dark Blue"),
        ("Front print", "Stripe", "All over pattern", "Solid"),
        ("Printed", "Playful", "Colourful", "Sporty", "Cosy"),
        ("Made for play at school and at home.", "Soft, durable and easy to move in.", "Fun prints that kids love."),
    ),
    Style(
        "baby",
        0.05,
        (31, 5),
        (
            Dept(6515, "Baby basics", "G", 44, "Baby Essentials & Complements", 1002, "Jersey Basic", (256, 270)),
            Dept(6564, "Newborn", "G", 44, "Baby Essentials & Complements", 1005, "Jersey Fancy", (256, 270)),
            Dept(6545, "Baby Boy Jersey Fancy", "G", 41, "Baby Boy", 1005, "Jersey Fancy", (270, 255)),
        ),
        ("White", "Light Pink", "Light Blue", "Light Beige", "Grey"),
        ("Solid", "All over pattern", "Stripe"),
        ("Organic", "Cosy", "Tiny", "Soft", "Newborn"),
        (
            "Gentle organic cotton for delicate baby skin.",
            "Easy to put on and take off.",
            "Soft essentials for the very first months.",
        ),
        repeat=1.6,
    ),
    Style(
        "accessories",
        0.06,
        (34, 11),
        (
            Dept(4344, "Jewellery", "C", 66, "Womens Small accessories", 1019, "Accessories", (70, 77)),
            Dept(4343, "Hair Accessories", "C", 66, "Womens Small accessories", 1019, "Accessories", (73,)),
            Dept(3409, "Scarves", "C", 65, "Womens Big accessories", 1019, "Accessories", (80, 75)),
            Dept(3509, "Belts", "C", 65, "Womens Big accessories", 1019, "Accessories", (67, 66)),
        ),
        ("Gold", "Silver", "Black", "Light Beige", "Dark Red"),
        ("Solid", "Treatment", "Embroidery"),
        ("Sparkly", "Chunky", "Minimal", "Twisted", "Statement"),
        ("A finishing touch for any outfit.", "Small details that make the look.", "Easy to style, day or night."),
    ),
    Style(
        "occasion",
        0.04,
        (46, 10),
        (
            Dept(1926, "Woven Occasion", "A", 14, "Womens Premium", 1013, "Dresses Ladies", (265, 258)),
            Dept(3529, "Boots", "C", 64, "Womens Shoes", 1020, "Shoes", (87, 90)),
        ),
        ("Black", "Dark Red", "Gold", "Dark Green", "Light Beige"),
        ("Solid", "Jacquard", "Embroidery"),
        ("Elegant", "Draped", "Premium", "Sequined", "Velvet"),
        (
            "Premium quality for special occasions.",
            "An elegant choice for evenings out.",
            "Refined details and a luxurious finish.",
        ),
        season_peak=350,
        season_amp=0.4,
    ),
    Style(
        "knit_cosy",
        0.08,
        (40, 10),
        (
            Dept(1626, "Knitwear", "A", 15, "Womens Everyday Collection", 1003, "Knitwear", (252, 245)),
            Dept(1636, "Jersey fancy", "A", 15, "Womens Everyday Collection", 1005, "Jersey Fancy", (254, 308)),
            Dept(1202, "Outwear", "A", 19, "Womens Jackets", 1007, "Outdoor", (263, 262)),
        ),
        ("Light Beige", "Grey", "Dark Green", "Off White", "Beige", "Yellowish Brown"),
        ("Melange", "Jacquard", "Other structure", "Solid"),
        ("Chunky", "Cosy", "Cable-knit", "Textured", "Warm"),
        (
            "Warm and cosy for the colder months.",
            "A soft knit to snuggle up in.",
            "Layer up in textured, cosy knitwear.",
        ),
        season_peak=10,
        season_amp=0.8,
    ),
    Style(
        "socks_tights",
        0.05,
        (41, 12),
        (
            Dept(3608, "Tights basic", "B", 62, "Womens Nightwear, Socks & Tigh", 1021, "Socks and Tights", (304,)),
            Dept(3611, "Shopbasket Socks", "B", 62, "Womens Nightwear, Socks & Tigh", 1021, "Socks and Tights", (302,)),
        ),
        ("Black", "Dark Grey", "Light Beige", "White"),
        ("Solid", "Stripe"),
        ("Everyday", "Multipack", "Shaping", "Fine", "Support"),
        (
            "Everyday comfort in a handy multipack.",
            "Durable basics to stock up on.",
            "A fine, comfortable fit that stays in place.",
        ),
        season_peak=330,
        season_amp=0.3,
        repeat=2.5,
    ),
)

STYLE_NAMES: tuple[str, ...] = tuple(s.name for s in STYLES)

# materials that read as adjectives: "in woven fabric" rather than "in woven"
ADJECTIVE_MATERIALS = frozenset(
    {
        "Woven",
        "Knitted",
        "Textured",
        "Shimmering",
        "Recycled",
        "Padded",
        "Quilted",
        "Felted",
        "Pleated",
        "Fast-drying",
        "Matt",
        "Semi-shiny",
        "Opaque",
        "Braided",
        "Fine-knit",
        "Cable-knit",
        "Rib-knit",
    }
)

YOUNG_STYLES = frozenset({"divided_trend", "denim_street"})


def young_style_indices() -> list[int]:
    return [i for i, s in enumerate(STYLES) if s.name in YOUNG_STYLES]
